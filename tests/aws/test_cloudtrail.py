"""CloudTrail from S3 (moto on loopback) and from LookupEvents (botocore Stubber: moto has none)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mtls_doctor.aws.cloudtrail import lookup_events, read_s3
from mtls_doctor.errors import AwsAccessError
from mtls_doctor.trail.files import read_safely
from tests.aws.conftest import Hook
from tests.aws.test_s3 import _error_response
from tests.trail.records import (
    ACCOUNT,
    T0,
    modify_listener,
    modify_trust_store,
    noise,
    record,
    trail_bytes,
    trail_key,
)

BUCKET = "org-trail"
SINCE, UNTIL = T0 - timedelta(minutes=30), T0 + timedelta(hours=1)


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def populate(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    inside = modify_trust_store(T0 + timedelta(minutes=2), "pki", "bundle.pem", "v2")
    put(s3, "trail/" + trail_key(T0 + timedelta(minutes=5)), trail_bytes([inside, *noise(T0, 9)]))
    put(s3, "trail/" + trail_key(T0 - timedelta(days=2)), b"not gzip")  # outside: never read
    digest = f"trail/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/05/20/d.json.gz"
    put(s3, digest, b"{}")


def test_reads_the_window_from_an_s3_prefix(s3: Any, client_hooks: list[Hook]) -> None:
    populate(s3)
    listed: list[str] = []
    client_hooks.append(
        (
            "provide-client-params.s3.ListObjectsV2",
            lambda params, **_: listed.append(params["Prefix"]),
        )
    )
    read = read_s3(f"s3://{BUCKET}/trail", SINCE, UNTIL)
    assert [e.event_name for e in read.events if e.is_write] == ["ModifyTrustStore"]
    assert len(read.events) == 7  # and the ELB Describe* calls, which are never causes
    assert read.events[0].origin == f"s3://{BUCKET}/trail/" + trail_key(T0 + timedelta(minutes=5))
    assert (read.files_read, read.records_read, read.problems) == (1, 10, ())
    day_lists = [p for p in listed if p.count("/") > 6]
    assert {p.rsplit("us-east-1/", 1)[1] for p in day_lists} == {"2026/05/20/", "2026/05/21/"}


def test_a_damaged_object_is_named_and_skipped(s3: Any) -> None:
    populate(s3)
    bad = "trail/" + trail_key(T0 + timedelta(minutes=10))
    put(s3, bad, b"\x1f\x8b\x08\x00truncated")
    read = read_s3(f"s3://{BUCKET}/trail/AWSLogs/", SINCE, UNTIL)
    assert len([e for e in read.events if e.is_write]) == 1 and not read.complete
    assert read.problems[0].startswith(f"s3://{BUCKET}/{bad}: not a readable CloudTrail log file")


def test_denied_listing_leaves_the_diagnosis_going(s3: Any, client_hooks: list[Hook]) -> None:
    populate(s3)
    client_hooks.append(
        (
            "before-call.s3.ListObjectsV2",
            lambda **_: _error_response(403, "AccessDenied", "Access Denied"),
        )
    )
    url = f"s3://{BUCKET}/trail"
    read = read_safely(url, lambda: read_s3(url, SINCE, UNTIL))
    assert read.events == () and not read.complete
    assert "access denied to s3:ListBucket" in read.problems[0]
    assert read.problems[0].endswith(f"no change events from {url}")


def lookup_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventId": item["eventID"],
        "EventName": item["eventName"],
        "ReadOnly": str(item["readOnly"]).lower(),
        "EventTime": datetime.fromisoformat(item["eventTime"].replace("Z", "+00:00")),
        "EventSource": item["eventSource"],
        "Username": "alice",
        "CloudTrailEvent": json.dumps(item),
    }


def stubbed_trail() -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudtrail", region_name="us-east-1")
    return client, Stubber(client)


def test_lookup_events_reads_every_page(aws_env: str) -> None:
    client, stub = stubbed_trail()
    attributes = [
        {"AttributeKey": "EventSource", "AttributeValue": "elasticloadbalancing.amazonaws.com"}
    ]
    first = [modify_listener(T0 + timedelta(minutes=1), mode="verify")]
    second = [
        record("DescribeListeners", T0 + timedelta(minutes=2), {}, read_only=True),
        modify_trust_store(T0 + timedelta(minutes=3), "pki", "bundle.pem", "v2"),
    ]
    expected = {"LookupAttributes": attributes, "StartTime": SINCE, "EndTime": UNTIL}
    stub.add_response(
        "lookup_events", {"Events": [lookup_item(i) for i in first], "NextToken": "p2"}, expected
    )
    stub.add_response(
        "lookup_events",
        {"Events": [lookup_item(i) for i in second]},
        expected | {"NextToken": "p2"},
    )
    with stub:
        read = lookup_events(SINCE, UNTIL, client=client)
    stub.assert_no_pending_responses()
    assert [e.event_name for e in read.events] == [
        "ModifyListener",
        "DescribeListeners",
        "ModifyTrustStore",
    ]
    assert read.events[1].read_only and read.records_read == 3
    assert read.events[0].event_time.tzinfo == UTC


def test_lookup_events_denied_is_an_access_error_the_diagnosis_survives(aws_env: str) -> None:
    client, stub = stubbed_trail()
    stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized", 400)
    with stub, pytest.raises(AwsAccessError, match="access denied to cloudtrail:LookupEvents"):
        lookup_events(SINCE, UNTIL, client=client)
    stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized", 400)
    with stub:
        read = read_safely("cloudtrail", lambda: lookup_events(SINCE, UNTIL, client=client))
    assert read.events == () and "cloudtrail:LookupEvents" in read.problems[0]
