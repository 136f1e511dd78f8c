"""CloudTrail records as ChangeEvents: who, what, when, on which resource, read-only or not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.errors import InputError
from mtls_doctor.trail.event import parse_record
from mtls_doctor.trail.files import parse_trail_bytes
from tests.trail.records import (
    ACTOR,
    LISTENER,
    T0,
    TRUST_STORE,
    modify_listener,
    modify_trust_store,
    record,
)


def test_a_write_is_parsed_with_actor_resource_and_time() -> None:
    event = parse_record(modify_trust_store(T0, "pki", "bundle.pem", "v2"), "f.json.gz")
    assert event is not None
    assert (event.event_name, event.actor, event.resource_arn) == (
        "ModifyTrustStore",
        ACTOR,
        TRUST_STORE,
    )
    assert event.event_time == T0 and event.event_time.tzinfo is not None
    assert event.is_write and not event.read_only
    assert event.request["caCertificatesBundleS3ObjectVersion"] == "v2"
    assert event.to_dict()["event_time"] == "2026-05-20T05:00:00Z"


def test_listener_events_name_the_listener() -> None:
    event = parse_record(modify_listener(T0, ignoreClientCertificateExpiry=False))
    assert event is not None and event.resource_arn == LISTENER


def test_read_only_calls_are_never_writes() -> None:
    flagged = parse_record(record("DescribeTrustStores", T0, {}, read_only=True))
    unflagged = parse_record(record("GetTrustStoreCaCertificatesBundle", T0, {}))
    as_string = record("DescribeListeners", T0, {})
    as_string["readOnly"] = "true"  # LookupEvents' spelling
    for event in (flagged, unflagged, parse_record(as_string)):
        assert event is not None and event.read_only and not event.is_write


def test_failed_calls_changed_nothing() -> None:
    event = parse_record(
        record("ModifyTrustStore", T0, {"trustStoreArn": TRUST_STORE}, error="AccessDenied")
    )
    assert event is not None and event.error_code == "AccessDenied" and not event.is_write


def test_create_trust_store_takes_the_arn_from_the_response() -> None:
    response = {"trustStores": [{"trustStoreArn": TRUST_STORE, "name": "web-ts"}]}
    event = parse_record(record("CreateTrustStore", T0, {"name": "web-ts"}, response=response))
    assert event is not None and event.resource_arn == TRUST_STORE


def test_other_services_and_bad_shapes_are_not_events() -> None:
    assert parse_record(record("RunInstances", T0, {}, source="ec2.amazonaws.com")) is None
    bad_time = record("ModifyListener", T0, {})
    bad_time["eventTime"] = "yesterday"
    assert parse_record(bad_time) is None
    assert parse_record(["not", "a", "record"]) is None


def test_fractional_and_offset_times_are_utc() -> None:
    item = record("ModifyListener", T0, {})
    item["eventTime"] = "2026-05-20T07:00:00.250+02:00"
    event = parse_record(item)
    assert event is not None
    assert event.event_time == datetime(2026, 5, 20, 5, 0, 0, 250000, tzinfo=UTC)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["", "ModifyListener", "2026-05-20T05:00:00Z", "true"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "eventSource",
                "eventName",
                "eventTime",
                "readOnly",
                "userIdentity",
                "requestParameters",
                "responseElements",
                "errorCode",
            ]
        ),
        json_values,
    )
)
def test_any_record_shape_parses_or_is_none(fields: dict[str, object]) -> None:
    fields.setdefault("eventSource", "elasticloadbalancing.amazonaws.com")
    event = parse_record(fields)
    assert event is None or isinstance(event.event_name, str)


@given(st.binary(max_size=200))
def test_any_bytes_are_records_or_a_named_input_error(data: bytes) -> None:
    try:
        records = parse_trail_bytes(data, "x.json.gz")
    except InputError as error:
        assert error.message.startswith("x.json.gz: ")
    else:
        assert isinstance(records, list)


def test_records_list_is_required() -> None:
    try:
        parse_trail_bytes(json.dumps({"Digest": 1}).encode(), "d.json")
    except InputError as error:
        assert "no Records list" in error.message
    else:
        raise AssertionError("a file without Records was accepted")
    assert parse_trail_bytes(json.dumps({"Records": []}).encode(), "e.json") == []
