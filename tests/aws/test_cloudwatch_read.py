"""The parts of reading a CloudWatch Logs group: names and ARNs, the window in ms, the
retention note, the stream marks, and a throttled page tried again (against moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtls_doctor.aws.cloudwatch import (
    CloudWatchOptions,
    GroupEvent,
    GroupInfo,
    GroupRef,
    retention_note,
    window_ms,
)
from mtls_doctor.aws.cwopener import CloudWatchOpener
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.errors import AwsAccessError, InputError
from mtls_doctor.logs.groupmarks import StreamMark
from mtls_doctor.logs.sources import input_scheme
from tests.aws.conftest import Hook
from tests.aws.cwdata import GROUP, base_time, lines, make_group, put
from tests.aws.test_s3 import _error_response

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "name", "region"),
    [
        ("cloudwatch:/aws/vendedlogs/alb", "/aws/vendedlogs/alb", None),
        ("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/x:*", "/aws/x", "eu-west-1"),
        ("arn:aws-cn:logs:cn-north-1:123456789012:log-group:my.group_1#a", "my.group_1#a", None),
    ],
)
def test_group_names_and_arns(text: str, name: str, region: str | None) -> None:
    ref = GroupRef.parse(text)
    assert ref.name == name and ref.display == f"cloudwatch:{name}"
    assert input_scheme(text) == "cloudwatch"
    if region:
        assert ref.region == region


@pytest.mark.parametrize("text", ["cloudwatch:", "cloudwatch:a b", "cloudwatch:x:y"])
def test_a_bad_group_name_is_bad_input(text: str) -> None:
    with pytest.raises(InputError, match="not a log group name"):
        GroupRef.parse(text)


def test_local_and_s3_inputs_keep_their_scheme() -> None:
    assert input_scheme("logs/") == "" and input_scheme("s3://b/p") == "s3"
    assert input_scheme("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x") == ""


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_the_window_end_is_the_last_ms_before_until(moment: datetime) -> None:
    until = moment.replace(tzinfo=UTC)
    _, end = window_ms(None, until)
    assert end is not None
    # endTime is inclusive: every ms up to `end` is before until, end + 1 is not.
    assert datetime.fromtimestamp(end / 1000, UTC) < until
    assert datetime.fromtimestamp((end + 1) / 1000, UTC) >= until


def test_retention_note() -> None:
    ref = GroupRef("/g")
    kept = GroupInfo(created=NOW - timedelta(days=30), retention_days=3)
    note = retention_note(ref, kept, NOW - timedelta(days=7), None, NOW)
    assert note is not None and "retention 3 days" in note and "2026-11-29T12:00:00Z" in note
    assert retention_note(ref, kept, NOW - timedelta(days=2), None, NOW) is None
    assert retention_note(ref, kept, None, None, NOW) is None
    young = GroupInfo(created=NOW - timedelta(hours=5), retention_days=None)
    note = retention_note(ref, young, NOW - timedelta(days=1), None, NOW)
    assert note is not None and "created 2026-12-02T07:00:00Z" in note
    # Without DescribeLogGroups, the first event tells (an hour after the start or more).
    first = NOW - timedelta(hours=2)
    assert retention_note(ref, None, NOW - timedelta(hours=4), first, NOW) is not None
    assert retention_note(ref, None, NOW - timedelta(hours=2, minutes=30), first, NOW) is None


def test_stream_mark() -> None:
    mark = StreamMark(high=1_000_000, ids=frozenset({"e1"}))
    assert mark.is_new(1_000_001, "x", 60_000)
    assert not mark.is_new(999_000, "e1", 60_000)
    assert mark.is_new(999_000, "e2", 60_000)  # late, within the span kept: new
    assert not mark.is_new(900_000, "e3", 60_000)  # older than the span: taken as stored


@pytest.fixture
def logs(aws_env: str) -> Any:
    import boto3

    return boto3.client("logs", region_name="us-east-1")


def _opener(events: list[GroupEvent], **kwargs: Any) -> CloudWatchOpener:
    options = CloudWatchOptions(
        remote=RemoteOptions(region="us-east-1"), observer=events.append, **kwargs
    )
    return CloudWatchOpener(options)


def test_a_throttled_page_is_tried_again(
    logs: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    make_group(logs)
    put(logs, "s1", lines(base_time(), 9))
    failures = [0]

    def throttle(**_: Any) -> Any:
        if failures[0] < 2:
            failures[0] += 1
            return _error_response(400, "ThrottlingException", "Rate exceeded")
        return None

    client_hooks.append(("before-call.logs.FilterLogEvents", throttle))
    events: list[GroupEvent] = []
    opener = _opener(events, backoff_seconds=0.01, page_size=4)
    try:
        scan = opener.expand(f"cloudwatch:{GROUP}", tmp_path)
        assert failures[0] == 2 and scan.unreadable == ()
        assert [s.path.read_text().count("\n") for s in scan.sources] == [9]
        assert [e.events for e in events if e.kind == "page"] == [4, 8, 9]
    finally:
        opener.close()
    assert not scan.sources[0].path.exists()  # the files go with the opener


def test_a_read_cut_short_keeps_what_it_read_and_names_why(
    logs: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    make_group(logs)
    put(logs, "s1", lines(base_time(), 9))
    calls = [0]

    def refuse_later_pages(**_: Any) -> Any:
        calls[0] += 1
        if calls[0] > 1:
            return _error_response(400, "AccessDeniedException", "not allowed")
        return None

    client_hooks.append(("before-call.logs.FilterLogEvents", refuse_later_pages))
    events: list[GroupEvent] = []
    opener = _opener(events, page_size=4)
    try:
        scan = opener.expand(f"cloudwatch:{GROUP}", tmp_path)
        assert scan.unreadable == (
            (
                f"cloudwatch:{GROUP}",
                "read cut short after 4 events: access denied to logs:FilterLogEvents "
                "(AccessDeniedException: not allowed)",
            ),
        )
        assert [s.path.read_text().count("\n") for s in scan.sources] == [4]
        failed = [e.error for e in events if e.kind == "failed"]
        assert len(failed) == 1 and isinstance(failed[0], AwsAccessError)
    finally:
        opener.close()


def test_progress_on_a_terminal_counts_events_and_ends_with_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mtls_doctor.cli._cloudwatch import GroupReporter

    report = GroupReporter(interactive=True)
    report(GroupEvent("start", "cloudwatch:/g", message="events from the oldest to the newest"))
    assert report.progress is not None
    report(GroupEvent("page", "cloudwatch:/g", events=10_000))
    report(GroupEvent("done", "cloudwatch:/g", events=12_345, streams=2, skipped=7))
    assert report.progress is None
    err = capsys.readouterr().err
    assert "cloudwatch:/g: reading events from the oldest to the newest" in err
    assert "cloudwatch:/g: 12345 event(s) from 2 log stream(s); 7 already in the store" in err


def test_buffers_of_many_streams_are_bounded_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mtls_doctor.aws import cwopener

    monkeypatch.setattr(cwopener, "_BUFFERED_BYTES", 1000)
    read = cwopener._Read(GroupRef("/g"), "us-east-1:/g", tmp_path, 60_000, {})
    for i in range(30):  # 30 events of ~100 bytes over 10 streams: each under 256 KiB
        read.add({"logStreamName": f"s{i % 10}", "timestamp": i, "eventId": str(i),
                  "message": "x" * 99})  # fmt: skip
    written = sum(p.stat().st_size for p in tmp_path.glob("stream-*.log"))
    assert written >= 2000  # flushed twice on the way, not held until the end
    sources = read.sources()
    assert sum(s.size for s in sources) == 3000 and len(sources) == 10
