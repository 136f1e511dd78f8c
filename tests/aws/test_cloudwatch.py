"""``cloudwatch:LOG_GROUP`` inputs against the moto server (FilterLogEvents, paging, the
window, --log-stream-prefix, a missing or refused group) for every command that reads logs."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.timeutil import iso_z
from tests.aws.conftest import Hook
from tests.aws.cwdata import GROUP, base_time, lines, make_group, put, write_file


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def logs(aws_env: str) -> Any:
    import boto3

    return boto3.client("logs", region_name="us-east-1")


@pytest.fixture
def group(logs: Any) -> dict[str, Any]:
    """Two ALB streams and an unrelated one; 30 + 20 + 5 events over the last two hours."""
    base = base_time()
    a, b, other = lines(base, 30, 1), lines(base + timedelta(seconds=7), 20, 2), lines(base, 5, 3)
    make_group(logs)
    put(logs, "alb-conn-node-a", a)
    put(logs, "alb-conn-node-b", b)
    put(logs, "other-stream", other)
    return {"base": base, "a": a, "b": b, "other": other, "until": base + timedelta(hours=1)}


def window(data: dict[str, Any]) -> tuple[str, ...]:
    return ("--since", iso_z(data["base"]) or "", "--until", iso_z(data["until"]) or "")


def count_by_status(*inputs: str, extra: tuple[str, ...] = ()) -> Any:
    return run(
        "logs", "query", *inputs, "--count-by", "tls_verify_status", "--format", "json", *extra
    )


def as_counts(result: Any) -> dict[str, int]:
    assert result.exit_code == 0, result.stderr
    return {row["tls_verify_status"]: row["count"] for row in json.loads(result.stdout)}


def filter_calls(hooks: list[Hook], limit: int | None = None) -> list[dict[str, Any]]:
    """Every FilterLogEvents call's parameters; with ``limit``, pages of that many events."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if limit is not None:
            params["limit"] = limit
        seen.append(dict(params))

    hooks.append(("provide-client-params.logs.FilterLogEvents", record))
    return seen


def test_query_counts_a_group_like_the_same_lines_in_a_file(
    group: dict[str, Any], tmp_path: Path, client_hooks: list[Hook]
) -> None:
    calls = filter_calls(client_hooks)
    local = write_file(tmp_path / "same.log", group["a"] + group["b"] + group["other"])
    remote = as_counts(count_by_status(f"cloudwatch:{GROUP}", extra=window(group)))
    assert remote == as_counts(count_by_status(str(local), extra=window(group)))
    assert sum(remote.values()) == 55
    # The window is the server's: startTime and endTime (inclusive, so --until less 1 ms).
    assert calls[0]["startTime"] == int(group["base"].timestamp() * 1000)
    assert calls[0]["endTime"] == int(group["until"].timestamp() * 1000) - 1


def test_pages_are_followed_to_the_end(
    group: dict[str, Any], client_hooks: list[Hook], tmp_path: Path
) -> None:
    calls = filter_calls(client_hooks, limit=7)
    result = count_by_status(f"cloudwatch:{GROUP}", extra=window(group))
    assert sum(as_counts(result).values()) == 55
    assert len(calls) == 8  # 55 events, 7 a page
    assert "nextToken" not in calls[0] and all("nextToken" in c for c in calls[1:])
    assert "55 event(s) from 3 log stream(s)" in result.stderr


def test_log_stream_prefix_narrows_the_read(
    group: dict[str, Any], client_hooks: list[Hook]
) -> None:
    calls = filter_calls(client_hooks)
    result = run(
        "logs",
        "query",
        f"cloudwatch:{GROUP}",
        *window(group),
        "--log-stream-prefix",
        "alb-conn-",
        "--count-by",
        "source_file",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    rows = {row["source_file"]: row["count"] for row in json.loads(result.stdout)}
    first_a = iso_z(group["base"])
    first_b = iso_z(group["base"] + timedelta(seconds=7))
    assert rows == {
        f"cloudwatch:{GROUP}:alb-conn-node-a@{first_a}": 30,
        f"cloudwatch:{GROUP}:alb-conn-node-b@{first_b}": 20,
    }
    assert calls[0]["logStreamNamePrefix"] == "alb-conn-"


def test_a_log_group_arn_is_read_as_its_name(group: dict[str, Any]) -> None:
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*"
    assert as_counts(count_by_status(arn, extra=window(group))) == as_counts(
        count_by_status(f"cloudwatch:{GROUP}", extra=window(group))
    )


def test_malformed_messages_are_named_by_stream_and_line(logs: Any, tmp_path: Path) -> None:
    base = base_time()
    good = lines(base, 4)
    bad = [*good[:2], (good[1][0] + 1, "not a connection-log line"), *good[2:]]
    make_group(logs)
    put(logs, "s1", bad)
    result = count_by_status(f"cloudwatch:{GROUP}")
    assert sum(as_counts(result).values()) == 4
    assert f"cloudwatch:{GROUP}:s1@{iso_z(base)}:3: malformed line skipped" in result.stderr


def test_missing_group_is_exit_3_naming_it_and_the_other_inputs_are_read(
    group: dict[str, Any], tmp_path: Path
) -> None:
    local = write_file(tmp_path / "same.log", group["a"])
    alone = count_by_status("cloudwatch:/no/such/group")
    assert alone.exit_code == 3
    assert "cloudwatch:/no/such/group: no such log group (logs:FilterLogEvents)" in alone.stderr
    assert "Traceback" not in alone.stderr
    both = count_by_status("cloudwatch:/no/such/group", str(local))
    assert both.exit_code == 3
    assert {row["tls_verify_status"]: row["count"] for row in json.loads(both.stdout)}
    assert "cloudwatch:/no/such/group" in both.stderr


def test_a_window_with_no_events_is_exit_3_naming_the_group_and_the_window(
    group: dict[str, Any], tmp_path: Path
) -> None:
    early = group["base"] - timedelta(hours=5)
    empty = ("--since", iso_z(early) or "", "--until", iso_z(early + timedelta(hours=1)) or "")
    first, last = (iso_z(early), iso_z(early + timedelta(hours=1)))
    for result in (
        count_by_status(f"cloudwatch:{GROUP}", extra=empty),
        run("diagnose", f"cloudwatch:{GROUP}", "--format", "json", *empty),
    ):
        assert result.exit_code == 3, result.stderr
        assert f"cloudwatch:{GROUP}: no events from {first} to {last}" in result.stderr, (
            result.stderr
        )
        assert "widen --since/--until" in result.stderr
        assert "conn_log" not in result.stderr and "Traceback" not in result.stderr
    narrowed = count_by_status(
        f"cloudwatch:{GROUP}", extra=(*window(group), "--log-stream-prefix", "nothing-")
    )
    assert narrowed.exit_code == 3 and "log streams named nothing-..." in narrowed.stderr
    # Beside an input that holds lines (outside the window too), an empty group is no error.
    local = write_file(tmp_path / "same.log", group["a"])
    beside = count_by_status(f"cloudwatch:{GROUP}", str(local), extra=empty)
    assert beside.exit_code == 0 and "error:" not in beside.stderr, beside.stderr


def test_retention_that_dropped_the_window_start_is_said(logs: Any) -> None:
    base = base_time()
    make_group(logs, retention_days=1)
    put(logs, "s1", lines(base, 3))
    result = count_by_status(f"cloudwatch:{GROUP}", extra=("--since", "3d"))
    assert result.exit_code == 0, result.stderr
    assert "retention may have dropped the rest" in result.stderr
    assert "retention 1 day" in result.stderr


def test_every_command_reads_a_group(group: dict[str, Any], tmp_path: Path) -> None:
    at = ("--at", iso_z(group["until"]) or "")
    since = ("--since", iso_z(group["base"]) or "")
    source = f"cloudwatch:{GROUP}"
    diagnosed = run("diagnose", source, *since, *at, "--format", "json")
    assert diagnosed.exit_code == 1, diagnosed.stderr  # the data has failures
    assert json.loads(diagnosed.stdout)["summary"]["connections"] == 55
    page = tmp_path / "report.html"
    reported = run("report", source, *since, "--until", at[1], "-o", str(page))
    assert reported.exit_code in (0, 1), reported.stderr
    assert "55 connections" in reported.stderr and page.read_text().startswith("<")
    bundle = tmp_path / "case.zip"
    bundled = run("support-bundle", "--out", str(bundle), source, *window(group))
    assert bundled.exit_code == 0, bundled.stderr
    with zipfile.ZipFile(bundle) as archive:
        rows = archive.read("connection-logs.jsonl").decode().splitlines()
    assert len(rows) == 55
    # support-bundle reads its inputs twice (rows, diagnosis): the group is read once.
    assert bundled.stderr.count(f"{source}: reading") == 1
    db = tmp_path / "store.duckdb"
    ingested = run("ingest", source, "--db", str(db), "--format", "json")
    assert ingested.exit_code == 0, ingested.stderr
    assert json.loads(ingested.stdout)["added_rows"] == 55


def test_diagnose_of_a_group_equals_diagnose_of_the_same_files(
    group: dict[str, Any], tmp_path: Path
) -> None:
    # A stream is read as a file: one file per stream, so the summaries count as many.
    files = [str(write_file(tmp_path / f"{n}.log", group[n])) for n in ("a", "b", "other")]
    common = ("--at", iso_z(group["until"]) or "", "--format", "json")
    remote = run("diagnose", f"cloudwatch:{GROUP}", *common)
    from_files = run("diagnose", *files, *common)
    assert remote.exit_code == from_files.exit_code == 1, remote.stderr
    assert json.loads(remote.stdout) == json.loads(from_files.stdout)


@pytest.fixture
def denied_identity(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Credentials of an IAM user allowed logs:DescribeLogGroups only, with moto enforcing
    IAM (its server checks policies once told to; everything else here runs unchecked)."""
    import urllib.request

    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    def enforce(count: str) -> None:
        request = urllib.request.Request(
            f"{aws_env}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form would hide the body from moto
        )
        urllib.request.urlopen(request, timeout=10).close()

    enforce("0")
    try:
        yield key
    finally:
        enforce("inf")


def test_denied_group_is_exit_4_naming_the_action_and_the_others_are_read(
    group: dict[str, Any], tmp_path: Path, denied_identity: Any
) -> None:
    local = write_file(tmp_path / "same.log", group["a"])
    alone = count_by_status(f"cloudwatch:{GROUP}")
    assert alone.exit_code == 4, alone.stderr
    assert f"cloudwatch:{GROUP}: access denied to logs:FilterLogEvents" in alone.stderr
    assert f"Allow logs:FilterLogEvents on arn:aws:logs:REGION:ACCOUNT:log-group:{GROUP}:*" in (
        alone.stderr
    )
    assert "Traceback" not in alone.stderr
    diagnosed = run("diagnose", f"cloudwatch:{GROUP}", "--format", "json")
    assert diagnosed.exit_code == 4 and "logs:FilterLogEvents" in diagnosed.stderr
    both = count_by_status(f"cloudwatch:{GROUP}", str(local))
    assert both.exit_code == 4, both.stderr
    assert sum(row["count"] for row in json.loads(both.stdout)) == 30
    assert f"cloudwatch:{GROUP}: access denied to logs:FilterLogEvents" in both.stderr
