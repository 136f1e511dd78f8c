"""Rendering of catalogue entries (mtls_doctor.report.explain) in every format."""

from __future__ import annotations

import json

import pytest

from mtls_doctor.knowledge.catalogue import CatalogueEntry, all_entries, get_entry
from mtls_doctor.report.explain import (
    ENTRY_RENDERERS,
    LIST_RENDERERS,
    WIDTH,
    ExplainFormat,
    entry_to_markdown,
    entry_to_text,
    list_to_json,
    list_to_markdown,
    list_to_text,
    render_entry,
)


def test_every_format_has_both_renderers() -> None:
    assert set(ENTRY_RENDERERS) == set(ExplainFormat)
    assert set(LIST_RENDERERS) == set(ExplainFormat)


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.key)
def test_text_shows_every_part_and_keeps_commands_and_urls_whole(entry: CatalogueEntry) -> None:
    text = entry_to_text(entry)
    lines = text.splitlines()
    assert entry.title in lines[0]
    for step in entry.steps:
        if step.command:
            assert f"       $ {step.command}" in lines
        for line in (step.openssl or "").splitlines():
            assert f"       $ {line}" in lines
    for link in entry.links:
        assert f"    {link.url}" in lines
    for heading in ("Meaning", "Likely causes", "Steps", "Who acts", "Not confirmed by AWS"):
        assert heading in lines
    prose = [ln for ln in lines if "$ " not in ln and "https://" not in ln]
    assert all(len(ln) <= WIDTH for ln in prose)


def test_text_numbers_steps_and_marks_their_kind() -> None:
    text = entry_to_text(get_entry("ClientCertExpired"))
    assert "  1. [confirm] " in text
    assert "[fix] " in text
    assert "\x1b[" not in text  # plain text, no terminal escapes


def test_text_of_unknown_says_it_is_not_documented_and_lists_near_matches() -> None:
    text = entry_to_text(get_entry("ClientCertMissing"))
    assert "'ClientCertMissing', not one of the 13 documented ALB reason codes" in text
    assert "Near matches" in text
    assert "ClientCertMissing (CloudFront connection logs)" in text


def test_text_of_documented_code_has_no_near_matches_section() -> None:
    assert "Near matches" not in entry_to_text(get_entry("ClientCertUntrusted"))


@pytest.mark.parametrize("entry", all_entries(), ids=lambda e: e.key)
def test_markdown_is_well_formed(entry: CatalogueEntry) -> None:
    text = entry_to_markdown(entry)
    assert text.startswith("## `")
    assert text.count("```") % 2 == 0
    for link in entry.links:
        assert f"[{link.title}]({link.url})" in text


def test_markdown_heading_uses_the_log_value() -> None:
    assert entry_to_markdown(get_entry("clientcertcrlhit")).startswith(
        "## `Failed:ClientCertCrlHit`: Client certificate is revoked"
    )


def test_markdown_neutralises_backticks_in_user_input() -> None:
    assert entry_to_markdown(get_entry("a`b")).startswith("## `a'b`:")


def test_json_is_the_entry_dict() -> None:
    entry = get_entry("Success")
    assert json.loads(render_entry(entry, "json")) == entry.to_dict()


def test_lists_have_one_row_per_entry_in_order() -> None:
    entries = all_entries()
    assert len(list_to_text(entries).splitlines()) == len(entries)
    assert len(list_to_markdown(entries).splitlines()) == len(entries) + 2
    body = json.loads(list_to_json(entries))
    assert body["schema_version"] == 1
    assert [e["key"] for e in body["entries"]] == [e.key for e in entries]
    assert set(body["entries"][0]) == {
        "key",
        "log_value",
        "documented",
        "title",
        "who_acts",
        "fix_summary",
    }


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        render_entry(get_entry("Success"), "yaml")
