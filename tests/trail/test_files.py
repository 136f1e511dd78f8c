"""Trail files from a folder: the window's days only, damaged files named and skipped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mtls_doctor.errors import AwsAccessError, InputError
from mtls_doctor.trail.files import ChangeRead, read_folder, read_safely, trail_files
from tests.trail.records import (
    ACCOUNT,
    REGION,
    T0,
    modify_listener,
    modify_trust_store,
    noise,
    write_trail,
)

SINCE, UNTIL = T0 - timedelta(minutes=30), T0 + timedelta(hours=1)


def test_reads_the_elb_events_of_the_window(tmp_path: Path) -> None:
    inside = modify_trust_store(T0 + timedelta(minutes=1), "pki", "bundle.pem", "v2")
    before = modify_listener(SINCE - timedelta(minutes=5), ignoreClientCertificateExpiry=False)
    write_trail(tmp_path, [before, inside, *noise(T0, 30)], T0 + timedelta(minutes=5))
    read = read_folder(tmp_path, SINCE, UNTIL)
    # Only ELB records come back (noise holds Describe* calls, kept for the selection to drop).
    names = [e.event_name for e in read.events]
    assert "ModifyTrustStore" in names and "ModifyListener" not in names
    assert "RunInstances" not in names
    assert (read.files_read, read.records_read, read.complete) == (1, 32, True)
    assert read.events[0].origin.endswith(".json.gz")


def test_day_folders_outside_the_window_are_not_opened(tmp_path: Path) -> None:
    far = write_trail(tmp_path, [], T0 - timedelta(days=3))
    far.write_bytes(b"not gzip")  # would be a problem if it were opened
    near = write_trail(tmp_path, [modify_listener(T0, mode="verify")], T0 + timedelta(minutes=5))
    assert trail_files(tmp_path, SINCE, UNTIL) == [near]
    read = read_folder(tmp_path, SINCE, UNTIL)
    assert read.problems == () and len(read.events) == 1


def test_files_delivered_before_the_window_are_not_opened(tmp_path: Path) -> None:
    early = write_trail(tmp_path, [], SINCE - timedelta(minutes=10))
    early.write_bytes(b"damaged")
    assert trail_files(tmp_path, SINCE, UNTIL) == []


def test_an_event_before_midnight_delivered_the_next_day_is_read(tmp_path: Path) -> None:
    late = T0.replace(hour=23, minute=58)
    write_trail(tmp_path, [modify_listener(late, mode="verify")], late + timedelta(minutes=7))
    read = read_folder(tmp_path, late - timedelta(minutes=30), late + timedelta(minutes=1))
    assert [e.event_time for e in read.events] == [late]


def test_a_damaged_file_is_named_and_skipped(tmp_path: Path) -> None:
    good = write_trail(tmp_path, [modify_listener(T0, mode="verify")], T0 + timedelta(minutes=5))
    bad = good.with_name(good.name.replace("_0000", "_BAD0"))
    bad.write_bytes(good.read_bytes()[:40])  # a truncated gzip
    digest = tmp_path / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/05/20/d.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(b"{}")
    read = read_folder(tmp_path, SINCE, UNTIL)
    assert len(read.events) == 1 and read.files_read == 1 and not read.complete
    assert len(read.problems) == 1
    assert read.problems[0].startswith(f"{bad}: not a readable CloudTrail log file")
    assert read.problems[0].endswith("; skipped")


def test_a_single_file_can_be_given(tmp_path: Path) -> None:
    path = write_trail(tmp_path, [modify_listener(T0, mode="verify")], T0)
    assert len(read_folder(path, SINCE, UNTIL).events) == 1


def test_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        read_folder(tmp_path / "nope", SINCE, UNTIL)


def test_read_safely_turns_an_error_into_a_named_problem() -> None:
    def denied() -> ChangeRead:
        raise AwsAccessError("CloudTrail: access denied to cloudtrail:LookupEvents")

    read = read_safely("cloudtrail", denied)
    assert read.events == () and not read.complete
    assert read.problems == (
        "CloudTrail: access denied to cloudtrail:LookupEvents; no change events from cloudtrail",
    )
    assert read.to_dict()["complete"] is False
