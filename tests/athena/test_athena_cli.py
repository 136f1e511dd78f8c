"""``athena ddl`` and ``diagnose --engine athena`` from the command line (no network).

Athena is the DuckDB stand-in of tests/athena/fakeathena.py, put in place of the boto3
runner; the S3 scan estimate is a fixed value.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.athena import session
from mtls_doctor.aws.athena import ScanEstimate
from mtls_doctor.cli import cli
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

    monkeypatch.setattr(session, "make_runner", lambda settings: runner)
    monkeypatch.setattr(session, "estimate_partitions", estimate)
    return runner


def test_diagnose_on_athena_matches_local(tmp_path: Path, fake_athena: DuckRunner) -> None:
    window = ("--since", "2024-04-05T00:00:00Z", "--until", "2024-04-06T00:00:00Z")
    code, out, err = invoke("diagnose", "--engine", "athena", *window, "--format", "json")
    assert code == 1, err
    athena = json.loads(out)
    assert "3 partition(s) [2024/04/04, 2024/04/05, 2024/04/06]" in err
    assert "1.000 GB per query; 1 query\n" in err
    assert "1 queries scanned" in err and "at $5/TB" in err
    assert fake_athena.scans == 1
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
    code, out, err = invoke("diagnose", "--engine", "athena", "--max-scan-gb", "0.9")
    assert code == 2 and out == ""
    assert "would scan about 1.00 GB" in err and "hint: " in err
    assert fake_athena.sqls == []
    # Near miss: enough budget for the plan, a single scan.
    code, _, _ = invoke("diagnose", "--engine", "athena", "--max-scan-gb", "1")
    assert code == 1 and fake_athena.scans == 1


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
    assert "3 partition(s)" in err and "GB per query; 1 query\n" in err
    assert "1 queries scanned" in err and "at $5/TB" in err
    assert fake_athena.scans == 1  # the overview is asked of the prepared tables
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


def test_report_max_scan_gb_the_overview_costs_no_scan(
    tmp_path: Path, fake_athena: DuckRunner
) -> None:
    out = tmp_path / "r.html"
    code, stdout, err = invoke(
        "report", "--engine", "athena", "--max-scan-gb", "0.99", "-o", str(out)
    )
    assert code == 2 and stdout == "" and "would scan about 1.00 GB" in err
    assert fake_athena.sqls == [] and not out.exists()
    # Room for one scan is room for the diagnosis and its overview.
    code, _, err = invoke("report", "--engine", "athena", "--max-scan-gb", "1", "-o", str(out))
    assert code == 1 and out.exists(), err
    assert fake_athena.scans == 1


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
    """The queries that finished are billed even when a later one fails."""
    from mtls_doctor.aws.athena import AthenaQueryError

    run = fake_athena.run

    def fail_later(sql: str) -> Any:
        if fake_athena.sqls:
            raise AthenaQueryError("Athena query q9 failed: boom", hint="see the console")
        return run(sql)

    monkeypatch.setattr(fake_athena, "run", fail_later)
    # An IPv6 block: its addresses are looked up first (that query is billed), then the
    # diagnosis' query fails.
    code, out, err = invoke(
        "report", "--engine", "athena", "--client-ip", "2001:db8::/32", "-o", "-"
    )
    assert code == 4 and out == ""
    assert "GB per query; 2 queries" in err
    assert "athena: 1 queries scanned" in err and "error: Athena query q9 failed" in err


@pytest.fixture
def aws_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A loopback endpoint in place of AWS that refuses every call and keeps each request's
    Authorization header (its credential scope names the access key and the region), and a
    profile ``doctor-test`` with its own key."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Authorization") or "")
            body = b'{"__type": "InvalidRequestException", "message": "refused by the test"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile doctor-test]\naws_access_key_id = AKIDPROFILETEST\n"
        "aws_secret_access_key = secret\nregion = us-east-1\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


COMMANDS = [
    ("diagnose", "--engine", "athena"),
    ("report", "--engine", "athena", "-o", "-"),
    ("logs", "query", "--engine", "athena"),
    ("athena", "setup", "--location", LOCATION),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] + "-" + c[1] for c in COMMANDS])
def test_profile_and_region_reach_athena(aws_listener: list[str], command: tuple[str, ...]) -> None:
    """--profile and --region (kept aside by the S3 input options) reach the Athena client."""
    code, out, err = invoke(*command, "--profile", "doctor-test", "--region", "eu-west-3")
    assert code == 4 and out == "" and "refused by the test" in err, err
    (auth,) = aws_listener  # the first call (GetTableMetadata, or setup's CREATE): refused
    assert "Credential=AKIDPROFILETEST/" in auth and "/eu-west-3/athena/" in auth


def test_aws_region_reaches_athena(
    aws_listener: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_REGION (which botocore alone ignores) over the profile's region; --region over both."""
    monkeypatch.setenv("AWS_REGION", "ap-south-2")
    base = ("diagnose", "--engine", "athena", "--profile", "doctor-test")
    assert invoke(*base)[0] == 4
    assert invoke(*base, "--region", "eu-west-3")[0] == 4
    assert ["/ap-south-2/athena/" in a for a in aws_listener] == [True, False]
    assert "/eu-west-3/athena/" in aws_listener[1]


def test_python_twin_is_the_command(fake_athena: DuckRunner) -> None:
    """docs/athena.md "In Python": diagnose_on_athena gives the command's JSON, in one scan."""
    from mtls_doctor.athena.session import AthenaSettings, diagnose_on_athena
    from mtls_doctor.diagnose.engine import DiagnoseOptions
    from mtls_doctor.logs.query import Filters
    from mtls_doctor.report.html import render_html

    at = ("--at", WINDOW[3])
    code, out, err = invoke("diagnose", "--engine", "athena", *WINDOW, *at, "--format", "json")
    assert code == 1, err
    command = json.loads(out)
    command.pop("generated_at")
    fake_athena.sqls.clear()
    since, now = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in WINDOW[1::2])
    window = Filters(since=since, until=now)
    run = diagnose_on_athena(
        AthenaSettings(max_scan_gb=1),
        window,
        DiagnoseOptions(now),
        runner=fake_athena,
        estimate=session.estimate_partitions,  # the fixture's stand-in
    )
    twin = run.diagnosis.to_dict()
    twin.pop("generated_at")
    assert twin == command and twin["failures"]
    assert fake_athena.scans == run.cost.queries == 1
    assert run.cost.scanned_bytes == 3 * 2**20 and run.estimate.bytes == 2**30
    # ... and of report --engine athena: the same page from its diagnosis and overview.
    # (--no-tls: the twin above was run without the TLS handshakes; test_policy_athena has
    # the report's TLS section over Athena.)
    code, page, err = invoke("report", "--engine", "athena", *WINDOW, *at, "--no-tls", "-o", "-")
    assert code == 1, err
    twin_page = render_html(run.diagnosis, run.overview, title="mTLS incident report")
    assert run.overview.top_clients and twin_page == page


def test_partitions_without_lines_are_nothing_read(fake_athena: DuckRunner) -> None:
    """Exit 3, not "no failures", when the partitions read hold no connection-log line."""
    window = ("--since", "2024-05-10T00:00:00Z", "--until", "2024-05-11T00:00:00Z")
    for command in (("diagnose",), ("report", "-o", "-")):
        code, out, err = invoke(*command, "--engine", "athena", *window)
        assert code == 3 and out == "" and "no connection-log line" in err, err
    # Near miss: the day that holds the lines.
    code, _, _ = invoke("diagnose", "--engine", "athena", *WINDOW)
    assert code == 1
