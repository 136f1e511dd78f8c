"""JSON contract of diagnose on a corpus where every number is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.diagnose.engine import DiagnoseOptions
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters, parse_client
from tests.diagnose.corpus import NOW, write_corpus
from tests.diagnose.reference import prepared, reference


def run(
    inputs: list[str], db: Path | None = None, filters: Filters | None = None, warn_days: int = 30
) -> dict[str, Any]:
    """The diagnosis from a source's prepared tables (as the CLI reads it); from files,
    checked against the engine's questions asked of every row. They must agree to the letter."""
    filters = filters or Filters()
    options = DiagnoseOptions(NOW, warn_days)
    out, stats = prepared(inputs, filters, options, db=db)
    out.pop("rows"), out.pop("stats")
    if inputs:
        assert out == reference(inputs, filters, options, stats)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def from_files(corpus: Path) -> dict[str, Any]:
    return run([str(corpus.parent)])


def test_summary_counts_every_kind_of_line(from_files: dict[str, Any]) -> None:
    s = from_files["summary"]
    assert from_files["schema_version"] == 1
    assert (s["connections"], s["tls_connections"], s["not_tls"]) == (84, 82, 2)
    assert (s["succeeded"], s["failed"], s["unknown_code_lines"]) == (61, 21, 1)
    assert s["files"] == 1 and s["malformed_lines"] == 0
    assert s["first_seen"] == "2024-04-05T12:00:00Z"
    assert s["failure_rate"] == pytest.approx(21 / 82, abs=1e-6)


def test_by_status_uses_raw_values(from_files: dict[str, Any]) -> None:
    assert from_files["by_status"] == {
        "Success": 61,
        "Failed:ClientCertExpired": 12,
        "Failed:ClientCertNotYetValid": 5,
        "Failed:ClientCertCrlHit": 3,
        "-": 2,
        "Failed:SomethingNew": 1,
    }


def test_failures_most_frequent_first_with_shares(from_files: dict[str, Any]) -> None:
    codes = [(f["code"], f["count"]) for f in from_files["failures"]]
    assert codes == [
        ("ClientCertExpired", 12),
        ("ClientCertNotYetValid", 5),
        ("ClientCertCrlHit", 3),
        ("SomethingNew", 1),
    ]
    expired = from_files["failures"][0]
    assert expired["share"] == pytest.approx(12 / 21, abs=1e-6)
    assert (expired["clients"], expired["certificates"]) == (3, 1)
    assert [c["count"] for c in expired["top_clients"]] == [4, 4, 4]
    assert expired["top_certificates"][0]["serial"] == "02"
    assert expired["timeline"]["unit"] == "minute"
    assert sum(b["count"] for b in expired["timeline"]["buckets"]) == 12
    assert expired["resolution"] and expired["resolution"][0].startswith("1. ")
    assert from_files["failures"][3]["documented"] is False


def test_expired_evidence_says_how_long_before(from_files: dict[str, Any]) -> None:
    evidence = from_files["failures"][0]["evidence"]
    item = evidence["items"][0]
    assert item["not_after"] == "2024-04-02T19:17:20Z"
    # first failure 13:01:00, NotAfter 2024-04-02 19:17:20 -> 2 days 17:43:40
    assert item["expired_before_first_failure_seconds"] == 2 * 86400 + 17 * 3600 + 43 * 60 + 40
    assert "2 days 17 hours before" in evidence["notes"][0]


def test_not_yet_valid_minutes_gap_is_clock_skew(from_files: dict[str, Any]) -> None:
    evidence = from_files["failures"][1]["evidence"]
    assert evidence["items"][0]["clock_skew_suspected"] is True
    assert "clock" in evidence["notes"][0]


def test_crl_hit_lists_revoked_serials(from_files: dict[str, Any]) -> None:
    assert from_files["failures"][2]["evidence"]["notes"] == ["Revoked serial(s) seen: 00FF."]


def test_new_code_after_traffic_is_a_change(from_files: dict[str, Any]) -> None:
    change = from_files["failures"][0]["change"]
    assert change["kind"] == "appeared"
    assert change["at"] == "2024-04-05T13:01:00Z"


def test_expiring_soon_warning(from_files: dict[str, Any]) -> None:
    kinds = {w["kind"]: w for w in from_files["warnings"]}
    soon = kinds["expiring_soon"]
    assert [i["serial"] for i in soon["items"]] == ["04"]
    assert "2024-04-20" in soon["message"]


def test_no_expiry_warning_when_outside_window(corpus: Path) -> None:
    result = run([str(corpus)], warn_days=1)
    assert all(w["kind"] != "expiring_soon" for w in result["warnings"])


def test_store_and_files_give_the_same_diagnosis(
    corpus: Path, tmp_path: Path, from_files: dict[str, Any]
) -> None:
    db = tmp_path / "x.duckdb"
    ingest_inputs([str(corpus)], db)
    from_store = run([], db=db)
    for key in ("summary", "by_status", "failures", "warnings"):
        assert from_store[key] == from_files[key], key


def test_filters_narrow_the_selection(corpus: Path) -> None:
    result = run([str(corpus)], filters=Filters(client=parse_client("203.0.113.0/24")))
    assert result["summary"]["connections"] == 12
    assert [f["code"] for f in result["failures"]] == ["ClientCertExpired"]


def test_ipv6_block_filter_selects_only_addresses_inside(tmp_path: Path) -> None:
    from tests.diagnose.corpus import T0, entry

    lines = [
        entry(T0, "2001:db8::7", "Failed:ClientCertUntrusted"),
        entry(T0, "2001:db9::7", "Failed:ClientCertUntrusted"),
        entry(T0, "198.51.100.1", "Success"),
    ]
    corpus = write_corpus(tmp_path, lines)
    inside = run([str(corpus)], filters=Filters(client=parse_client("2001:db8::/32")))
    assert inside["summary"]["connections"] == 1
    outside = run([str(corpus)], filters=Filters(client=parse_client("2001:dead::/32")))
    assert outside["summary"]["connections"] == 0


def test_expiry_warnings_count_every_certificate(tmp_path: Path) -> None:
    from datetime import timedelta

    from tests.diagnose.corpus import T0, entry

    # 60 certificates accepted after their NotAfter (all expiring before the 3 that are
    # still valid) and 3 that expire within the window: each kind is counted in full, and
    # neither crowds the other out of the 50 listed.
    lines = [
        entry(
            T0,
            f"198.51.100.{i}",
            "Success",
            serial=f"A{i:02d}",
            not_after=T0 - timedelta(days=i + 1),
        )
        for i in range(60)
    ]
    lines += [
        entry(T0, f"192.0.2.{i}", "Success", serial=f"B{i}", not_after=T0 + timedelta(days=5 + i))
        for i in range(3)
    ]
    lines.append(entry(T0, "192.0.2.1", "Success", serial="B1", not_after=T0 + timedelta(days=6)))
    corpus = write_corpus(tmp_path, lines)
    warnings = {w["kind"]: w for w in run([str(corpus)])["warnings"]}
    past, soon = warnings["expired_but_accepted"], warnings["expiring_soon"]
    assert past["message"].startswith("60 certificate(s) (50 listed, those expiring first) ")
    assert len(past["items"]) == 50 and past["items"][0]["serial"] == "A59"
    assert soon["message"].startswith("3 certificate(s) used by 3 client(s) ")
    assert [i["serial"] for i in soon["items"]] == ["B0", "B1", "B2"]
