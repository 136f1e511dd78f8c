"""The catalogue data: complete, well-formed, and found under every spelling of a code."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mtls_doctor.knowledge.catalogue import (
    EVIDENCE_FIELDS,
    ORDER,
    UNKNOWN,
    WHO_ACTS,
    CatalogueError,
    all_entries,
    catalogue_problems,
    get_entry,
    load_raw,
    validate_catalogue,
)
from mtls_doctor.knowledge.codes import DOCUMENTED_CODES, NOT_TLS, SUCCESS
from mtls_doctor.knowledge.fields import FIELD_NAMES

REQUIRED = (
    "key",
    "title",
    "meaning",
    "causes",
    "evidence_fields",
    "steps",
    "who_acts",
    "links",
    "fix_summary",
    "unconfirmed",
)


@pytest.fixture()
def raw() -> dict[str, Any]:
    return copy.deepcopy(load_raw())


def _entry(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(e for e in data["entry"] if e["key"] == key)


def test_packaged_catalogue_has_no_problems() -> None:
    assert catalogue_problems(load_raw()) == ()
    validate_catalogue()


def test_entries_cover_every_documented_code_in_order() -> None:
    keys = tuple(e.key for e in all_entries())
    assert keys == (*DOCUMENTED_CODES, SUCCESS, NOT_TLS, UNKNOWN)
    assert {"ClientCertPurposeInvalid", "ClientCertIncompatible"} <= set(keys)


@pytest.mark.parametrize("code", DOCUMENTED_CODES)
def test_missing_documented_code_is_reported(raw: dict[str, Any], code: str) -> None:
    raw["entry"] = [e for e in raw["entry"] if e["key"] != code]
    assert f"{code}: no entry" in catalogue_problems(raw)


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_is_reported(raw: dict[str, Any], field: str) -> None:
    del _entry(raw, "ClientCertExpired")[field]
    assert any(field in p for p in catalogue_problems(raw))


@pytest.mark.parametrize("field", [f for f in REQUIRED if f != "key"])
def test_empty_field_is_reported(raw: dict[str, Any], field: str) -> None:
    entry = _entry(raw, "ClientCertUntrusted")
    entry[field] = [] if isinstance(entry[field], list) else "  "
    assert f"ClientCertUntrusted: {field} is missing or empty" in catalogue_problems(raw)


def test_empty_list_item_is_reported(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertUntrusted")["causes"].append("")
    assert "ClientCertUntrusted: causes has an empty or non-text item" in catalogue_problems(raw)


def test_entry_for_undocumented_code_is_reported(raw: dict[str, Any]) -> None:
    extra = copy.deepcopy(_entry(raw, "ClientCertCrlHit"))
    extra["key"] = "ClientCertRevoked"  # a third-party emulator's code, not an ALB one
    raw["entry"].append(extra)
    assert any(p.startswith("ClientCertRevoked: not a documented") for p in catalogue_problems(raw))


def test_duplicate_entry_is_reported(raw: dict[str, Any]) -> None:
    raw["entry"].append(copy.deepcopy(_entry(raw, "Success")))
    assert "Success: duplicate entry" in catalogue_problems(raw)


def test_unknown_field_in_entry_is_reported(raw: dict[str, Any]) -> None:
    _entry(raw, "Success")["severity"] = "high"
    assert "Success: unknown field 'severity'" in catalogue_problems(raw)


def test_derived_columns_are_accepted_but_invented_fields_are_not(raw: dict[str, Any]) -> None:
    entry = _entry(raw, "ClientCertExpired")
    entry["evidence_fields"] = ["not_after", "timestamp"]
    assert catalogue_problems(raw) == ()
    entry["evidence_fields"].append("client_cert_issuer")
    assert "ClientCertExpired: unknown evidence field 'client_cert_issuer'" in catalogue_problems(
        raw
    )


def test_who_acts_vocabulary_is_enforced(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertExpired")["who_acts"] = ["the intern"]
    assert "ClientCertExpired: unknown who_acts 'the intern'" in catalogue_problems(raw)


def test_link_ids_and_urls_are_checked(raw: dict[str, Any]) -> None:
    _entry(raw, "-")["links"].append("blog")
    assert "-: unknown link id 'blog'" in catalogue_problems(raw)


def test_non_aws_link_is_reported(raw: dict[str, Any]) -> None:
    raw["links"]["quotas"]["url"] = "http://example.com/limits"
    assert "link quotas: url must be an AWS documentation page" in catalogue_problems(raw)


def test_fix_summary_must_be_one_line(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertInvalid")["fix_summary"] = "Reissue.\nThen retry."
    assert "ClientCertInvalid: fix_summary must be one line" in catalogue_problems(raw)


def test_step_with_bad_kind_is_reported(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertInvalid")["steps"][0]["kind"] = "maybe"
    assert any("step 1: kind must be" in p for p in catalogue_problems(raw))


def test_step_citing_a_command_we_do_not_have_is_reported(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertInvalid")["steps"][1]["command"] = "mtls-doctor cert verify CHAIN.pem"
    assert any("is not one of our mtls-doctor commands" in p for p in catalogue_problems(raw))


def test_empty_openssl_is_reported(raw: dict[str, Any]) -> None:
    _entry(raw, "ClientCertInvalid")["steps"][0]["openssl"] = ""
    assert any("step 1: openssl is empty" in p for p in catalogue_problems(raw))


def test_entry_without_fix_step_is_reported(raw: dict[str, Any]) -> None:
    entry = _entry(raw, "ClientCertExpired")
    entry["steps"] = [s for s in entry["steps"] if s["kind"] == "confirm"]
    assert "ClientCertExpired: needs at least one 'fix' step" in catalogue_problems(raw)


def test_documented_code_without_openssl_equivalent_is_reported(raw: dict[str, Any]) -> None:
    for step in _entry(raw, "ClientCertExpired")["steps"]:
        step.pop("openssl", None)
    assert "ClientCertExpired: no step gives an openssl/shell equivalent" in catalogue_problems(raw)


def test_validate_raises_with_every_problem(raw: dict[str, Any]) -> None:
    raw["entry"] = [e for e in raw["entry"] if e["key"] not in ("ClientCertIncompatible", "-")]
    with pytest.raises(CatalogueError) as caught:
        validate_catalogue(raw)
    assert "ClientCertIncompatible: no entry" in caught.value.message
    assert "-: no entry" in caught.value.message
    assert caught.value.hint


def test_every_entry_uses_known_vocabulary() -> None:
    for entry in all_entries():
        assert set(entry.evidence_fields) <= set(EVIDENCE_FIELDS), entry.key
        assert set(entry.who_acts) <= set(WHO_ACTS), entry.key
        assert entry.steps[0].kind == "confirm", entry.key
        assert entry.unconfirmed, entry.key
    assert set(EVIDENCE_FIELDS) == {*FIELD_NAMES, "not_before", "not_after"}


def test_order_constant_matches_codes() -> None:
    assert ORDER[: len(DOCUMENTED_CODES)] == DOCUMENTED_CODES


@pytest.mark.parametrize(
    "given",
    [
        "ClientCertExpired",
        "Failed:ClientCertExpired",
        "failed:clientcertexpired",
        " CLIENTCERTEXPIRED ",
    ],
)
def test_get_entry_accepts_every_spelling(given: str) -> None:
    entry = get_entry(given)
    assert entry.key == "ClientCertExpired"
    assert entry.given_code is None
    assert entry is get_entry("ClientCertExpired")  # loaded once


def test_get_entry_near_miss_spelling_is_unknown_with_suggestion() -> None:
    entry = get_entry("Failed:ClientCertExpird")
    assert entry.key == UNKNOWN
    assert entry.given_code == "ClientCertExpird"
    assert [m.code for m in entry.near_matches] == ["ClientCertExpired"]


@pytest.mark.parametrize(
    ("given", "key"), [("Success", SUCCESS), ("success", SUCCESS), ("-", NOT_TLS)]
)
def test_get_entry_special_values(given: str, key: str) -> None:
    assert get_entry(given).key == key


def test_cloudfront_code_is_unknown_and_named_as_cloudfront() -> None:
    entry = get_entry("Failed:TcpTimeout")
    assert entry.key == UNKNOWN
    assert entry.near_matches[0].code == "TcpTimeout"
    assert "CloudFront" in entry.near_matches[0].source
    assert not entry.documented


def test_emulator_code_points_to_the_real_alb_code() -> None:
    codes = [m.code for m in get_entry("ClientCertRevoked").near_matches]
    assert codes == ["ClientCertRevoked", "ClientCertCrlHit"]


def test_unrelated_value_has_no_near_matches() -> None:
    entry = get_entry("banana")
    assert (entry.key, entry.given_code, entry.near_matches) == (UNKNOWN, "banana", ())


def test_to_dict_is_json_ready_with_schema_version() -> None:
    data = get_entry("ClientCertCrlHit").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["schema_version"] == 1
    assert data["log_value"] == "Failed:ClientCertCrlHit"
    assert data["documented"] is True
    assert [s["number"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))
    assert set(data["steps"][0]) == {"number", "kind", "action", "command", "openssl"}
    assert data["links"][0]["url"].startswith("https://")


def test_to_dict_of_unknown_records_the_given_code() -> None:
    data = get_entry("ConnectionFunctionDenied").to_dict()
    assert (data["key"], data["log_value"], data["documented"]) == (UNKNOWN, None, False)
    assert data["given_code"] == "ConnectionFunctionDenied"
    assert data["near_matches"][0]["source"] == "CloudFront connection logs"


def test_multi_line_openssl_splits_into_commands() -> None:
    steps = get_entry("ClientCertUntrusted").steps
    multi = next(s for s in steps if s.openssl and "\n" in s.openssl)
    assert len(multi.openssl_lines) == 3
    assert all(line.startswith("openssl ") for line in multi.openssl_lines)
    waiting = get_entry("ClientCertNotYetValid").steps
    assert next(s for s in waiting if s.openssl is None).openssl_lines == ()
