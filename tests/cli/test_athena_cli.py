"""``athena ddl`` and ``diagnose --engine athena`` from the command line (no network).

Athena is the DuckDB stand-in of tests/athena/fakeathena.py, put in place of the boto3
runner; the S3 scan estimate is a fixed value.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.aws.athena import ScanEstimate
from mtls_doctor.cli import athena_cmds, cli
from tests.athena.fakeathena import LOCATION, DuckRunner, load_table
from tests.diagnose.corpus import crafted_lines

KEY = (
    "2024/04/05/conn_log_123456789012_elasticloadbalancing_us-east-1_app.demo."
    "0123456789abcdef_20240405T1315Z_10.0.0.5_abc1.log.gz"
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ddl_prints_database_and_table() -> None:
    code, out, err = invoke(
        "athena",
        "ddl",
        "--location",
        LOCATION,
        "--table",
        "conn",
        "--projection-start",
        "2024-03-01",
    )
    assert code == 0 and err == ""
    assert out.startswith("CREATE DATABASE IF NOT EXISTS `mtls_doctor`;")
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `mtls_doctor`.`conn`" in out
    assert "'projection.day.range' = '2024/03/01,NOW'" in out


def test_ddl_refuses_a_location_outside_the_awslogs_layout() -> None:
    code, out, err = invoke("athena", "ddl", "--location", "s3://bucket/logs/")
    assert code == 3 and out == ""
    assert err.startswith("error: ") and "hint: " in err


@pytest.fixture
def fake_athena(monkeypatch: pytest.MonkeyPatch) -> DuckRunner:
    con = duckdb.connect()
    load_table(con, {KEY: crafted_lines()})
    runner = DuckRunner(con, scanned=3 * 2**20)

    def estimate(settings: Any, runner_: Any, days: Any, today: date) -> ScanEstimate:
        picked = tuple(days.days(date(2024, 4, 4), date(2024, 4, 6)))
        return ScanEstimate(picked, 2, 2**30, 2**30)

    monkeypatch.setattr(athena_cmds, "_make_runner", lambda settings: runner)
    monkeypatch.setattr(athena_cmds, "_estimate", estimate)
    return runner


def test_diagnose_on_athena_matches_local(tmp_path: Path, fake_athena: DuckRunner) -> None:
    window = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")
    code, out, err = invoke("diagnose", "--engine", "athena", *window, "--format", "json")
    assert code == 1, err
    athena = json.loads(out)
    assert "3 partition(s) [2024/04/04, 2024/04/05, 2024/04/06]" in err
    assert "queries scanned" in err and "at $5/TB" in err
    local_file = tmp_path / KEY.rsplit("/", 1)[1]
    local_file.write_bytes(gzip.compress(("\n".join(crafted_lines()) + "\n").encode()))
    code, out, _ = invoke("diagnose", str(local_file), *window, "--format", "json")
    local = json.loads(out)
    for result in (athena, local):
        result.pop("generated_at")
    assert athena["failures"] and athena == local


def test_diagnose_text_report_is_identical(tmp_path: Path, fake_athena: DuckRunner) -> None:
    window = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")
    _, athena, _ = invoke("diagnose", "--engine", "athena", *window)
    local_file = tmp_path / KEY.rsplit("/", 1)[1]
    local_file.write_bytes(gzip.compress(("\n".join(crafted_lines()) + "\n").encode()))
    _, local, _ = invoke("diagnose", str(local_file), *window)
    assert "ClientCertExpired" in athena

    def strip(text: str) -> list[str]:
        return [ln for ln in text.splitlines() if "generated" not in ln.lower()]

    assert strip(athena) == strip(local)


def test_max_scan_gb_refuses_before_any_query(fake_athena: DuckRunner) -> None:
    code, out, err = invoke("diagnose", "--engine", "athena", "--max-scan-gb", "5")
    assert code == 2 and out == ""
    assert "would scan about 9.00 GB" in err and "hint: " in err
    assert fake_athena.sqls == []
    # Near miss: enough budget for the plan.
    code, _, _ = invoke("diagnose", "--engine", "athena", "--max-scan-gb", "100")
    assert code == 1


def test_athena_engine_takes_no_paths(fake_athena: DuckRunner) -> None:
    code, _, err = invoke("diagnose", "--engine", "athena", "logs/")
    assert code == 2 and "not PATHS" in err


def test_athena_only_options_need_the_engine() -> None:
    code, _, err = invoke("diagnose", "--max-scan-gb", "1", "logs/")
    assert code == 2 and "--engine athena" in err
