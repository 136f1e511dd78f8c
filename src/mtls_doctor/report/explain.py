"""Render catalogue entries for ``mtls-doctor explain``: plain text, JSON or Markdown.

Plain text is for a terminal (and works unchanged when piped); Markdown is meant to be
pasted into a ticket; JSON is the entry's ``to_dict()``. Every renderer returns a string
that ends with a newline, and none of them prints.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from mtls_doctor.knowledge.catalogue import UNKNOWN, CatalogueEntry
from mtls_doctor.knowledge.codes import DOCUMENTED_CODES

WIDTH = 88
_NOT_DOCUMENTED = f"not one of the {len(DOCUMENTED_CODES)} documented ALB reason codes"


class ExplainFormat(StrEnum):
    """Output formats of ``explain``; every member has both renderers (a test checks)."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def _status_line(entry: CatalogueEntry) -> str:
    if entry.key == UNKNOWN:
        given = entry.given_code if entry.given_code is not None else "(none)"
        return f"Value given: {given!r}, {_NOT_DOCUMENTED}."
    kind = "documented ALB reason code" if entry.documented else "status value"
    return f"Log value: {entry.log_value} ({kind})"


def _wrap(text: str, indent: str, bullet: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=indent + bullet,
        subsequent_indent=indent + " " * len(bullet),
        break_long_words=False,  # never split a URL or a field name
        break_on_hyphens=False,
    )


def _section(title: str, items: Sequence[str]) -> list[str]:
    lines = ["", title]
    for item in items:
        lines += _wrap(item, "  ", "- ")
    return lines


def _text_steps(entry: CatalogueEntry) -> list[str]:
    lines = ["", "Steps"]
    for number, step in enumerate(entry.steps, 1):
        lines += _wrap(f"[{step.kind}] {step.action}", "  ", f"{number}. ")
        if step.command:
            lines.append(f"       $ {step.command}")
        if step.openssl:
            lines.append("       openssl/shell:")
            lines += [f"       $ {line}" for line in step.openssl_lines]
    return lines


def entry_to_text(entry: CatalogueEntry) -> str:
    """A terminal-friendly explanation, wrapped at 88 columns (commands are never wrapped)."""
    lines = [f"{entry.key}: {entry.title}", _status_line(entry)]
    if entry.near_matches:
        lines += _section(
            "Near matches", [f"{m.code} ({m.source}): {m.note}" for m in entry.near_matches]
        )
    lines += ["", "Meaning", *_wrap(entry.meaning, "  ")]
    lines += _section("Likely causes", entry.causes)
    lines += ["", "Evidence in the connection log", *_wrap(", ".join(entry.evidence_fields), "  ")]
    lines += _text_steps(entry)
    lines += ["", "Who acts", *_wrap(", ".join(entry.who_acts), "  ")]
    lines += ["", "Fix in one line", *_wrap(entry.fix_summary, "  ")]
    lines += _section("Not confirmed by AWS", entry.unconfirmed)
    lines += ["", "AWS documentation"]
    for link in entry.links:
        lines += [*_wrap(link.title, "  ", "- "), f"    {link.url}"]
    return "\n".join(lines) + "\n"


def _md_code(text: str, indent: str) -> list[str]:
    return [f"{indent}```sh", *(indent + line for line in text.splitlines()), f"{indent}```"]


def _md_list(items: Sequence[str]) -> list[str]:
    return [f"- {item}" for item in items]


def entry_to_markdown(entry: CatalogueEntry) -> str:
    """A Markdown section for a ticket: heading, bullet lists and fenced commands."""
    # A backtick in user input would end the inline code span early.
    label = (entry.log_value or entry.given_code or UNKNOWN).replace("`", "'")
    lines = [f"## `{label}`: {entry.title}", "", _status_line(entry), ""]
    if entry.near_matches:
        lines += ["**Near matches**", ""]
        lines += _md_list([f"`{m.code}` ({m.source}): {m.note}" for m in entry.near_matches])
        lines.append("")
    lines += [f"**Meaning:** {entry.meaning}", "", "**Likely causes**", ""]
    lines += [*_md_list(entry.causes), ""]
    fields = ", ".join(f"`{name}`" for name in entry.evidence_fields)
    lines += [f"**Evidence (connection-log fields):** {fields}", "", "**Steps**", ""]
    for number, step in enumerate(entry.steps, 1):
        lines.append(f"{number}. *{step.kind.capitalize()}:* {step.action}")
        if step.command:
            lines += _md_code(step.command, "   ")
        if step.openssl:
            lines += ["   openssl/shell equivalent:", *_md_code(step.openssl, "   ")]
    lines += ["", f"**Who acts:** {', '.join(entry.who_acts)}", ""]
    lines += [f"**Fix (summary):** {entry.fix_summary}", "", "**Not confirmed by AWS**", ""]
    lines += [*_md_list(entry.unconfirmed), "", "**AWS documentation**", ""]
    lines += _md_list([f"[{link.title}]({link.url})" for link in entry.links])
    return "\n".join(lines) + "\n"


def entry_to_json(entry: CatalogueEntry) -> str:
    """``entry.to_dict()`` as indented JSON."""
    return json.dumps(entry.to_dict(), indent=2) + "\n"


def _summary(entry: CatalogueEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "log_value": entry.log_value,
        "documented": entry.documented,
        "title": entry.title,
        "who_acts": list(entry.who_acts),
        "fix_summary": entry.fix_summary,
    }


def list_to_json(entries: Sequence[CatalogueEntry]) -> str:
    """``{"schema_version": 1, "entries": [{key, log_value, documented, title, ...}]}``."""
    body = {"schema_version": 1, "entries": [_summary(e) for e in entries]}
    return json.dumps(body, indent=2) + "\n"


def list_to_text(entries: Sequence[CatalogueEntry]) -> str:
    """One aligned line per entry: key, then title."""
    width = max(len(e.key) for e in entries)
    return "".join(f"{e.key:<{width}}  {e.title}\n" for e in entries)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def list_to_markdown(entries: Sequence[CatalogueEntry]) -> str:
    """A Markdown table: code, title, who acts, fix."""
    lines = ["| Code | Title | Who acts | Fix |", "| --- | --- | --- | --- |"]
    for e in entries:
        cells = (f"`{e.key}`", e.title, ", ".join(e.who_acts), e.fix_summary)
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


ENTRY_RENDERERS: dict[ExplainFormat, Callable[[CatalogueEntry], str]] = {
    ExplainFormat.TEXT: entry_to_text,
    ExplainFormat.JSON: entry_to_json,
    ExplainFormat.MARKDOWN: entry_to_markdown,
}
LIST_RENDERERS: dict[ExplainFormat, Callable[[Sequence[CatalogueEntry]], str]] = {
    ExplainFormat.TEXT: list_to_text,
    ExplainFormat.JSON: list_to_json,
    ExplainFormat.MARKDOWN: list_to_markdown,
}


def render_entry(entry: CatalogueEntry, fmt: ExplainFormat | str) -> str:
    """Render one entry in ``fmt``."""
    return ENTRY_RENDERERS[ExplainFormat(fmt)](entry)


def render_list(entries: Sequence[CatalogueEntry], fmt: ExplainFormat | str) -> str:
    """Render the catalogue index in ``fmt``."""
    return LIST_RENDERERS[ExplainFormat(fmt)](entries)
