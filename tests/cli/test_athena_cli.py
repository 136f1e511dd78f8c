"""``athena ddl`` and ``diagnose --engine athena`` from the command line (no network).

Athena is the DuckDB stand-in of tests/athena/fakeathena.py, put in place of the boto3
runner; the S3 scan estimate is a fixed value.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
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
    assert "would scan about 10.00 GB" in err and "hint: " in err
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


WINDOW = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")


def _local_file(tmp_path: Path) -> Path:
    path = tmp_path / KEY.rsplit("/", 1)[1]
    path.write_bytes(gzip.compress(("\n".join(crafted_lines()) + "\n").encode()))
    return path


def test_report_on_athena_is_the_local_page(tmp_path: Path, fake_athena: DuckRunner) -> None:
    out = tmp_path / "athena.html"
    code, stdout, err = invoke("report", "--engine", "athena", *WINDOW, "-o", str(out))
    assert code == 1, err
    assert stdout.strip() == str(out)
    assert "3 partition(s)" in err and "12 queries" in err
    assert "queries scanned" in err and "at $5/TB" in err
    _, local, _ = invoke("report", str(_local_file(tmp_path)), *WINDOW, "-o", "-")

    def strip(page: str) -> list[str]:
        return [ln for ln in page.splitlines() if "generated" not in ln.lower()]

    page = out.read_text()
    assert "ClientCertExpired" in page and strip(page) == strip(local)


def test_report_on_athena_with_no_failures_exits_0(fake_athena: DuckRunner) -> None:
    code, stdout, err = invoke(
        "report", "--engine", "athena", *WINDOW, "--status", "success", "-o", "-"
    )
    assert code == 0, err
    assert stdout.startswith("<!DOCTYPE html>") and "No failed mTLS connections" in stdout


def test_report_max_scan_gb_counts_the_overview_queries(
    tmp_path: Path, fake_athena: DuckRunner
) -> None:
    out = tmp_path / "r.html"
    # 12 queries x 1 GiB: diagnose's 10 plus the overview's 2.
    code, stdout, err = invoke(
        "report", "--engine", "athena", "--max-scan-gb", "11.5", "-o", str(out)
    )
    assert code == 2 and stdout == "" and "would scan about 12.00 GB" in err
    assert fake_athena.sqls == [] and not out.exists()
    # Just enough room for the whole plan.
    code, _, err = invoke("report", "--engine", "athena", "--max-scan-gb", "12", "-o", str(out))
    assert code == 1 and out.exists(), err


def test_report_on_athena_takes_no_db(tmp_path: Path, fake_athena: DuckRunner) -> None:
    code, stdout, err = invoke("report", "--engine", "athena", "--db", str(tmp_path / "x.duckdb"))
    assert code == 2 and stdout == "" and "not PATHS or --db" in err
    assert fake_athena.sqls == []


def _rows(tmp_path: Path, *args: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    code, out, err = invoke("logs", "query", "--engine", "athena", *args, "--format", "json")
    assert code == 0, err
    athena = json.loads(out)
    code, out, _ = invoke("logs", "query", str(_local_file(tmp_path)), *args, "--format", "json")
    assert code == 0
    local = json.loads(out)
    for row in athena + local:
        if "source_file" in row:  # s3:// URI of the object / the local file: compare names
            row["source_file"] = row["source_file"].rsplit("/", 1)[1]
    return athena, local, err


def test_logs_query_rows_on_athena(tmp_path: Path, fake_athena: DuckRunner) -> None:
    args = ("--status", "ClientCertExpired", *WINDOW)
    athena, local, err = _rows(tmp_path, *args)
    assert len(athena) == 12 and athena == local
    assert "3 partition(s)" in err and "GB per query; 1 query" in err
    assert "1 queries scanned" in err and "1000 per GetQueryResults" in err
    (sql,) = fake_athena.sqls
    assert "\"day\" >= '2024/04/04'" in sql and "'Failed:ClientCertExpired'" in sql
    # Near miss: another code selects other rows.
    other, _, _ = _rows(tmp_path, "--status", "ClientCertNotYetValid", *WINDOW)
    assert other and other != athena


def test_logs_query_limit_on_athena(tmp_path: Path, fake_athena: DuckRunner) -> None:
    athena, local, err = _rows(tmp_path, "--limit", "5")
    assert len(athena) == 5 and [r["timestamp"] for r in athena] == [r["timestamp"] for r in local]
    assert "GetQueryResults" not in err
    assert fake_athena.sqls[0].endswith("LIMIT 5")


def test_logs_query_count_by_on_athena(tmp_path: Path, fake_athena: DuckRunner) -> None:
    athena, local, _ = _rows(tmp_path, "--count-by", "client_ip,error_code", "--status", "failed")
    assert athena and athena == local
    assert sum(r["count"] for r in athena) == 21
    assert len(fake_athena.sqls) == 1 and "GROUP BY" in fake_athena.sqls[0]


def test_logs_query_v6_block_costs_a_second_query(fake_athena: DuckRunner) -> None:
    code, out, err = invoke(
        "logs", "query", "--engine", "athena", "--client-ip", "2001:db8::/32", "--format", "json"
    )
    assert code == 0 and json.loads(out) == [] and "2 queries" in err
    assert len(fake_athena.sqls) == 2


def test_logs_query_max_scan_gb(fake_athena: DuckRunner) -> None:
    base = ("logs", "query", "--engine", "athena", "--count-by", "tls_verify_status")
    code, out, err = invoke(*base, "--max-scan-gb", "0.5")
    assert code == 2 and out == "" and "would scan about 1.00 GB" in err and "hint: " in err
    assert fake_athena.sqls == [] and "queries scanned" not in err
    # Near miss: one query of 1 GiB fits in 1 GB.
    code, out, err = invoke(*base, "--max-scan-gb", "1", "--format", "json")
    assert code == 0 and json.loads(out)[0] == {"tls_verify_status": "Success", "count": 61}
    assert "1 queries scanned 0.003 GB" in err


def test_logs_query_bad_field_on_athena_runs_nothing(fake_athena: DuckRunner) -> None:
    code, out, err = invoke("logs", "query", "--engine", "athena", "--count-by", "nope")
    assert code == 2 and out == "" and "unknown field 'nope'" in err
    assert fake_athena.sqls == [] and "partition" not in err


def test_logs_query_on_athena_takes_no_paths(fake_athena: DuckRunner) -> None:
    code, _, err = invoke("logs", "query", "--engine", "athena", "logs/")
    assert code == 2 and "not PATHS" in err


def test_athena_engine_is_not_imported_for_local_commands() -> None:
    """Start-up stays light: boto3 and sqlglot load only for --engine athena."""
    code = (
        "import sys; from mtls_doctor.cli import logs_cmds, report_cmds, diagnose_cmds; "
        "print(sorted(m for m in ('boto3', 'botocore', 'sqlglot') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_cost_line_after_a_failed_query(
    fake_athena: DuckRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queries that finished are billed even when a later wave fails."""
    from mtls_doctor.aws.athena import AthenaQueryError

    first_wave = fake_athena.run_many

    def fail_later(sqls: Any) -> Any:
        if fake_athena.batches:
            raise AthenaQueryError("Athena query q9 failed: boom", hint="see the console")
        return first_wave(sqls)

    monkeypatch.setattr(fake_athena, "run_many", fail_later)
    code, out, err = invoke("report", "--engine", "athena", "-o", "-")
    assert code == 4 and out == ""
    assert "athena: 6 queries scanned" in err and "error: Athena query q9 failed" in err
