"""``--at T`` ends the review: the window is [T - since, T); an --until after T is exit 2."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.corpus import T0, entry, write_corpus

AT = T0 + timedelta(hours=2)
AT_TEXT = AT.strftime("%Y-%m-%dT%H:%M:%SZ")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Successes up to T (one three hours before), failures only after it."""
    lines = [entry(AT - timedelta(hours=3, minutes=30), "198.51.100.9", "Success")]
    lines += [entry(AT - timedelta(minutes=m), "198.51.100.1", "Success") for m in (50, 20, 1)]
    lines += [
        entry(AT + timedelta(minutes=m), "198.51.100.2", "Failed:ClientCertExpired")
        for m in (0, 5, 60, 24 * 60)
    ]
    return write_corpus(tmp_path, lines)


def test_diagnose_at_counts_no_row_after_it_and_keeps_an_earlier_until(logs: Path) -> None:
    code, out, _ = invoke(
        "diagnose", str(logs), "--at", AT_TEXT, "--since", "3h", "--format", "json"
    )
    assert code == 0  # the failures come after --at
    data = json.loads(out)
    assert data["summary"]["connections"] == 3 and data["summary"]["failed"] == 0
    assert data["filters"]["until"].startswith(AT.isoformat()[:19])
    # Without --at the same logs hold the failures.
    code, out, _ = invoke("diagnose", str(logs), "--format", "json")
    assert code == 1 and json.loads(out)["summary"]["failed"] == 4
    # An --until before --at stays.
    until = (AT - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = invoke(
        "diagnose",
        str(logs),
        "--at",
        AT_TEXT,
        "--until",
        until,
        "--since",
        "3h",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["summary"]["connections"] == 2


@pytest.mark.parametrize("command", ["diagnose", "report"])
def test_an_until_after_at_is_a_usage_error(logs: Path, tmp_path: Path, command: str) -> None:
    later = (AT + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    code, out, err = invoke(command, str(logs), "--at", AT_TEXT, "--until", later, *extra)
    assert code == 2 and not out
    assert "--until" in err and "is after --at" in err
    assert not (tmp_path / "r.html").exists()


def test_report_at_counts_no_row_after_it(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, stdout, err = invoke("report", str(logs), "--at", AT_TEXT, "-o", str(out))
    assert code == 0, err
    assert "4 connections, 0 failed" in err and stdout.strip() == str(out)
    assert "ClientCertExpired" not in out.read_text()
    code, _, err = invoke("report", str(logs), "-o", str(out))
    assert code == 1 and "8 connections, 4 failed" in err
