"""diagnose from the command line: exit codes, JSON on stdout, messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.corpus import T0, entry, write_corpus


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_failures_found_is_exit_1_with_json_contract(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    code, out, _ = invoke("diagnose", str(corpus), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert set(data) >= {"schema_version", "summary", "by_status", "failures", "warnings", "errors"}
    assert set(data["failures"][0]) >= {
        "code",
        "count",
        "share",
        "clients",
        "certificates",
        "first_seen",
        "last_seen",
        "top_clients",
        "top_certificates",
        "timeline",
        "evidence",
        "resolution",
    }


def test_no_failures_is_exit_0(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path, [entry(T0, "198.51.100.1", "Success")])
    code, out, _ = invoke("diagnose", str(corpus))
    assert code == 0
    assert "No failed mTLS connections" in out


def test_filter_that_excludes_failures_is_exit_0(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    code, out, _ = invoke("diagnose", str(corpus), "--status", "success", "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["failed"] == 0


def test_markdown_has_a_section_per_code(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    code, out, _ = invoke("diagnose", str(corpus), "--format", "markdown")
    assert code == 1
    assert "## ClientCertExpired: 12" in out and "## ClientCertCrlHit: 3" in out


def test_garbage_input_is_exit_3_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "conn_log_garbage.log"
    bad.write_bytes(b"\x00\x01 not a log\nstill not\n")
    code, out, err = invoke("diagnose", str(bad))
    assert code == 3
    assert "no connection-log line could be read" in err and "Traceback" not in err
    assert out == ""


def test_nothing_read_names_the_input(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    for command in (["diagnose"], ["report", "-o", "-"]):
        code, _out, err = invoke(*command, str(bad))
        assert code == 3 and f"could be read from {bad}" in err


def test_missing_path_is_exit_3(tmp_path: Path) -> None:
    code, _, err = invoke("diagnose", str(tmp_path / "nope"))
    assert code == 3 and "no such file or folder" in err


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path, [entry(T0, "198.51.100.1", "Success"), "broken line"])
    code, out, err = invoke("diagnose", str(corpus), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["summary"]["malformed_lines"] == 1
    assert data["errors"][0]["line"] == 2
    assert f"{corpus}:2: malformed line skipped" in err


def test_at_judges_expiry_and_durations_as_of_that_time(tmp_path: Path) -> None:
    from datetime import timedelta

    from tests.diagnose.corpus import NOW, crafted_lines

    corpus = write_corpus(tmp_path, crafted_lines())
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = invoke("diagnose", str(corpus), "--at", at, "--format", "json")
    assert code == 1
    kinds = {w["kind"]: w for w in json.loads(out)["warnings"]}
    assert [i["serial"] for i in kinds["expiring_soon"]["items"]] == ["04"]
    # Judged today, every certificate of 2024 ends before the horizon, not only that one.
    today = json.loads(invoke("diagnose", str(corpus), "--format", "json")[1])
    soon = {w["kind"]: w for w in today["warnings"]}["expiring_soon"]
    assert {i["serial"] for i in soon["items"]} > {"04"}
    # --since 11h counts back from --at, to 13:00: the first hour's successes are left out.
    _, out, _ = invoke("diagnose", str(corpus), "--at", at, "--since", "11h", "--format", "json")
    summary = json.loads(out)["summary"]
    assert summary["first_seen"] >= (NOW - timedelta(hours=11)).isoformat()[:19]
    assert (
        summary["succeeded"]
        < json.loads(invoke("diagnose", str(corpus), "--format", "json")[1])["summary"]["succeeded"]
    )


def test_at_that_is_not_a_time_is_a_usage_error(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path, [entry(T0, "198.51.100.1", "Success")])
    code, out, err = invoke("diagnose", str(corpus), "--at", "yesterday-ish")
    assert code == 2
    assert "'yesterday-ish' is not a time" in err and not out
