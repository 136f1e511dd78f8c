"""A group whose messages are vended JSON records (the CloudWatch Logs delivery's ``json``
output) reads as the same connections in legacy lines: the identical diagnosis."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.knowledge.fields import LogEntry, vended_record
from mtls_doctor.timeutil import iso_z
from tests.aws import cwdata
from tests.aws.albdata import entry
from tests.aws.cwdata import GROUP, base_time, json_lines, lines, make_group, put, write_file
from tests.aws.test_cloudwatch import as_counts, count_by_status, run


@pytest.fixture
def logs(aws_env: str) -> Any:
    import boto3

    return boto3.client("logs", region_name="us-east-1")


@pytest.mark.parametrize("typed", [False, True], ids=["string-values", "typed-values"])
def test_json_messages_diagnose_as_the_same_legacy_files(
    logs: Any, tmp_path: Path, typed: bool
) -> None:
    base = base_time()
    make_group(logs)
    put(logs, "s-a", json_lines(base, 30, 1, typed=typed))
    put(logs, "s-b", json_lines(base + timedelta(seconds=7), 20, 2, typed=typed))
    files = [
        str(write_file(tmp_path / "a.log", lines(base, 30, 1))),
        str(write_file(tmp_path / "b.log", lines(base + timedelta(seconds=7), 20, 2))),
    ]
    common = ("--at", iso_z(base + timedelta(hours=1)) or "", "--format", "json")
    remote = run("diagnose", f"cloudwatch:{GROUP}", *common)
    local = run("diagnose", *files, *common)
    assert remote.exit_code == local.exit_code == 1, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)


def test_json_and_plain_streams_in_one_group(logs: Any, tmp_path: Path) -> None:
    base = base_time()
    make_group(logs)
    put(logs, "json", json_lines(base, 12, 1, typed=True))
    put(logs, "plain", lines(base, 8, 2))
    both = write_file(tmp_path / "both.log", lines(base, 12, 1) + lines(base, 8, 2))
    assert as_counts(count_by_status(f"cloudwatch:{GROUP}")) == as_counts(
        count_by_status(str(both))
    )


def test_ingest_of_json_messages_is_incremental(logs: Any, tmp_path: Path) -> None:
    base = base_time()
    make_group(logs)
    put(logs, "s-a", json_lines(base, 10, 1))
    db = tmp_path / "store.duckdb"
    args = ("ingest", f"cloudwatch:{GROUP}", "--db", str(db), "--format", "json")
    first = run(*args)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["added_rows"] == 10
    put(logs, "s-a", json_lines(base + timedelta(minutes=30), 3, 2))
    again = run(*args)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["added_rows"] == 3


def test_a_truncated_json_message_is_a_malformed_line_of_its_stream(logs: Any) -> None:
    base = base_time()
    good = json_lines(base, 4, 1)
    cut = (good[1][0] + 1, good[1][1][:40])
    make_group(logs)
    put(logs, "s-a", [*good[:2], cut, *good[2:]])
    result = count_by_status(f"cloudwatch:{GROUP}")
    assert sum(as_counts(result).values()) == 4
    where = f"cloudwatch:{GROUP}:s-a@{iso_z(base)}:3"  # the third event of its stream
    assert f"{where}: malformed line skipped: truncated JSON record" in result.stderr


def _edges(base: datetime) -> list[LogEntry]:
    """Records that test a conversion: IPv6, a subject with spaces, commas, an escaped comma
    and a non-ASCII letter, empty values, an undocumented code, plain HTTP."""
    edge = replace(
        entry(base, 1, "Success"),
        client_ip="2001:db8::1",
        leaf_client_cert_subject="CN=édge client,OU=a=b,O=Example\\, Inc.,C=US",
        tls_keyexchange=None,
        elb=None,
    )
    return [
        edge,
        replace(edge, timestamp=base + timedelta(seconds=1), tls_verify_status="Failed:New",
                tls_handshake_latency=None),
        replace(edge, timestamp=base + timedelta(seconds=2), leaf_client_cert_subject=None,
                not_before=None, not_after=None, leaf_client_cert_serial_number=None),
        replace(edge, timestamp=base + timedelta(seconds=3), tls_verify_status="-",
                tls_protocol=None, tls_cipher=None, tls_handshake_latency=None),
    ]  # fmt: skip


def test_edge_records_as_json_messages_diagnose_as_legacy_lines(logs: Any, tmp_path: Path) -> None:
    base = base_time()
    edges = _edges(base + timedelta(minutes=5))
    empties = ("null", "missing", "dash")
    records = [
        (cwdata.ms(e.timestamp), json.dumps(vended_record(e, typed=True, empty=empties[i % 3])))
        for i, e in enumerate(edges)
    ]
    make_group(logs)
    put(logs, "s-a", json_lines(base, 30, 1, typed=True) + records)
    legacy = lines(base, 30, 1) + [(cwdata.ms(e.timestamp), e.to_line()) for e in edges]
    local = write_file(tmp_path / "a.log", legacy)
    common = ("--at", iso_z(base + timedelta(hours=1)) or "", "--format", "json")
    remote = run("diagnose", f"cloudwatch:{GROUP}", *common)
    from_file = run("diagnose", str(local), *common)
    assert remote.exit_code == from_file.exit_code == 1, remote.stderr
    report = json.loads(remote.stdout)
    assert report == json.loads(from_file.stdout)
    assert report["summary"]["connections"] == 34 and report["summary"]["malformed_lines"] == 0
