"""``policy check --engine athena``: the answer of the local engine, from the diagnosis's one
Athena query (Athena played by tests/athena/fakeathena.py; no network)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.athena import session
from mtls_doctor.aws.athena import ScanEstimate
from mtls_doctor.cli import cli
from tests.athena.fakeathena import DuckRunner, load_table
from tests.diagnose.tlscorpus import KEY, tls_lines, write_tls_logs

RES = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
WINDOW = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def fake_athena(monkeypatch: pytest.MonkeyPatch) -> DuckRunner:
    con = duckdb.connect()
    load_table(con, {KEY: tls_lines()})
    runner = DuckRunner(con, scanned=3 * 2**20)

    def estimate(settings: Any, runner_: Any, days: Any, today: date) -> ScanEstimate:
        picked = tuple(days.days(date(2024, 4, 4), date(2024, 4, 6)))
        return ScanEstimate(picked, 2, 2**30, 2**30)

    monkeypatch.setattr(session, "make_runner", lambda settings: runner)
    monkeypatch.setattr(session, "estimate_partitions", estimate)
    return runner


@pytest.mark.parametrize("compare", [False, True])
def test_policy_check_on_athena_matches_local(
    tmp_path: Path, fake_athena: DuckRunner, compare: bool
) -> None:
    chosen = ["--compare", "ELBSecurityPolicy-2016-08", RES] if compare else [RES]
    path = write_tls_logs(tmp_path)
    code, out, err = invoke(
        "policy", "check", *chosen, *WINDOW, "--engine", "athena", "--format", "json"
    )
    assert code == 1, err
    local_code, local, _ = invoke(
        "policy", "check", *chosen, str(path), *WINDOW, "--format", "json"
    )
    assert local_code == 1 and json.loads(out) == json.loads(local)
    assert len(fake_athena.sqls) == 1 and fake_athena.scans == 1  # the diagnosis's one scan
    assert "athena: 1 queries scanned" in err


def test_athena_reads_no_paths(tmp_path: Path, fake_athena: DuckRunner) -> None:
    code, out, err = invoke(
        "policy", "check", RES, str(write_tls_logs(tmp_path)), "--engine", "athena"
    )
    assert code == 2 and out == "" and "--engine athena reads the Athena table" in err


def test_diagnose_and_report_tls_on_athena_match_local(
    tmp_path: Path, fake_athena: DuckRunner
) -> None:
    path = write_tls_logs(tmp_path / "logs")
    at = ("--at", "2024-04-06T00:00:00Z")
    code, out, err = invoke("diagnose", "--tls", *at, "--engine", "athena", "--format", "json")
    assert code == 1, err
    local_code, local, _ = invoke("diagnose", str(path), "--tls", *at, "--format", "json")
    assert local_code == 1 and json.loads(out)["tls"] == json.loads(local)["tls"]
    assert json.loads(out)["tls"]["pq_connections"] == 5
    assert len(fake_athena.sqls) == 1  # the TLS section costs no query of its own
    page = tmp_path / "r.html"
    code, _, err = invoke("report", "--tls", *at, "--engine", "athena", "-o", str(page))
    assert code == 1, err
    assert '<h2 id="tls">TLS</h2>' in page.read_text(encoding="utf-8")
