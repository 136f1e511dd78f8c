"""Which events can be causes: writes, in scope, in the look-back before the change point."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mtls_doctor.trail.event import ChangeEvent, parse_record
from mtls_doctor.trail.select import Scope, possible_causes
from tests.trail.records import (
    LISTENER,
    OTHER_LISTENER,
    OTHER_STORE,
    T0,
    TRUST_STORE,
    add_revocations,
    modify_listener,
    record,
)

AT = T0 + timedelta(minutes=40)


def events(*records: dict[str, Any]) -> list[ChangeEvent]:
    parsed = [parse_record(r) for r in records]
    return [e for e in parsed if e is not None]


def other_store_revocation(minutes: int) -> dict[str, Any]:
    item = add_revocations(T0 + timedelta(minutes=minutes), "pki", "crl.pem", "v1")
    item["requestParameters"]["trustStoreArn"] = OTHER_STORE
    return item


def test_only_writes_in_the_lookback_newest_first() -> None:
    found = possible_causes(
        events(
            add_revocations(T0, "pki", "crl.pem", "v0"),  # 40 min before: outside 30 min
            add_revocations(T0 + timedelta(minutes=20), "pki", "crl.pem", "v1"),
            modify_listener(T0 + timedelta(minutes=35), LISTENER, mode="verify"),
            record("DescribeTrustStores", T0 + timedelta(minutes=36), {}, read_only=True),
            record(
                "GetTrustStoreRevocationContent",
                T0 + timedelta(minutes=37),
                {"trustStoreArn": TRUST_STORE},
            ),
            record(
                "ModifyTrustStore",
                T0 + timedelta(minutes=38),
                {"trustStoreArn": TRUST_STORE},
                error="AccessDenied",
            ),
            modify_listener(AT + timedelta(minutes=5), LISTENER, mode="verify"),  # after
        ),
        AT,
    )
    assert [(e.event_name, e.event_time) for e in found] == [
        ("ModifyListener", T0 + timedelta(minutes=35)),
        ("AddTrustStoreRevocations", T0 + timedelta(minutes=20)),
    ]


def test_the_lookback_is_a_setting() -> None:
    items = events(add_revocations(T0, "pki", "crl.pem", "v0"))
    assert possible_causes(items, AT, lookback=timedelta(minutes=30)) == []
    assert len(possible_causes(items, AT, lookback=timedelta(hours=1))) == 1


def test_a_call_in_the_change_points_minute_counts() -> None:
    items = events(modify_listener(AT + timedelta(seconds=20), mode="verify"))
    assert len(possible_causes(items, AT)) == 1


def test_other_listeners_and_their_trust_stores_are_left_out_when_the_listener_is_known() -> None:
    items = events(
        modify_listener(T0, LISTENER, trustStoreArn=TRUST_STORE),  # names the store in use
        modify_listener(T0 + timedelta(minutes=20), OTHER_LISTENER, mode="verify"),
        other_store_revocation(25),
        add_revocations(T0 + timedelta(minutes=30), "pki", "crl.pem", "v1"),
    )
    by_arn = possible_causes(items, AT, Scope(listeners=frozenset({LISTENER})))
    assert [e.resource_arn for e in by_arn] == [TRUST_STORE]
    by_lb = possible_causes(
        items, AT, Scope(load_balancers=frozenset({"app/web/50dc6c495c0c9188"}))
    )
    assert [e.resource_arn for e in by_lb] == [TRUST_STORE]


def test_without_a_known_scope_nothing_is_left_out() -> None:
    items = events(
        modify_listener(T0 + timedelta(minutes=20), OTHER_LISTENER, mode="verify"),
        other_store_revocation(25),
    )
    assert len(possible_causes(items, AT)) == 2
    # The listener is known but its trust store is not: trust-store events stay.
    scoped = possible_causes(items, AT, Scope(listeners=frozenset({LISTENER})))
    assert [e.resource_arn for e in scoped] == [OTHER_STORE]


def test_a_given_trust_store_leaves_out_the_others() -> None:
    items = events(
        other_store_revocation(25), add_revocations(T0 + timedelta(minutes=30), "pki", "c", "v")
    )
    scoped = possible_causes(items, AT, Scope(trust_stores=frozenset({TRUST_STORE})))
    assert [e.resource_arn for e in scoped] == [TRUST_STORE]
