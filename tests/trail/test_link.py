"""Listener settings, timing only, and the order of the causes (no S3 needed)."""

from __future__ import annotations

from datetime import timedelta

from mtls_doctor.trail.event import ChangeEvent, parse_record
from mtls_doctor.trail.link import Cause, Failing, link_causes, rank
from tests.trail.records import (
    LISTENER,
    OTHER_STORE,
    T0,
    add_revocations,
    modify_listener,
    record,
)

AT = T0 + timedelta(minutes=20)


def ev(item: dict[str, object]) -> ChangeEvent:
    parsed = parse_record(item)
    assert parsed is not None
    return parsed


def test_expiry_waiver_turned_off_explains_client_cert_expired() -> None:
    earlier = ev(modify_listener(T0 - timedelta(days=3), ignoreClientCertificateExpiry=True))
    off = ev(modify_listener(T0 + timedelta(minutes=15), ignoreClientCertificateExpiry=False))
    [cause] = link_causes(Failing("ClientCertExpired", AT), [off], None, [earlier, off])
    assert cause.evidence == "listener-setting"
    assert cause.summary.startswith("IgnoreClientCertificateExpiry turned off (was True)")
    assert cause.details == {
        "setting": "ignoreClientCertificateExpiry",
        "new": False,
        "previous": True,
    }
    assert cause.to_dict()["resource_arn"] == LISTENER
    # Near misses: another code, or a value that was already off.
    [other] = link_causes(Failing("ClientCertUntrusted", AT), [off], None, [earlier, off])
    assert other.evidence == "timing-only"
    already = ev(modify_listener(T0 - timedelta(days=1), ignoreClientCertificateExpiry=False))
    [same] = link_causes(Failing("ClientCertExpired", AT), [off], None, [already, off])
    assert same.evidence == "timing-only"


def test_previous_value_unknown_is_said() -> None:
    off = ev(modify_listener(T0, ignoreClientCertificateExpiry="false"))
    [cause] = link_causes(Failing("ClientCertExpired", AT), [off], None)
    assert "(unknown before)" in cause.summary


def test_mode_and_trust_store_changes() -> None:
    verify = ev(modify_listener(T0, mode="verify"))
    [cause] = link_causes(Failing("ClientCertMissing", AT), [verify], None)
    assert cause.evidence == "listener-setting" and "mode set to verify" in cause.summary
    passthrough = ev(modify_listener(T0, mode="passthrough"))
    assert (
        link_causes(Failing("ClientCertMissing", AT), [passthrough], None)[0].evidence
        == "timing-only"
    )
    moved = ev(modify_listener(T0, trustStoreArn=OTHER_STORE))
    [cause] = link_causes(Failing("ClientCertUntrusted", AT), [moved], None)
    assert cause.evidence == "listener-setting" and OTHER_STORE in cause.summary


def test_without_s3_access_revocations_are_timing_only_and_say_why() -> None:
    added = ev(add_revocations(T0, "pki", "crl.pem", "v1"))
    [cause] = link_causes(Failing("ClientCertCrlHit", AT, ("0A",)), [added], None)
    assert cause.evidence == "timing-only"
    assert cause.details["unreadable"] == [
        {"object": "s3://pki/crl.pem?versionId=v1", "error": "no S3 access for change evidence"}
    ]


def test_attribute_changes_are_timing_only() -> None:
    attrs = ev(record("ModifyListenerAttributes", T0, {"listenerArn": LISTENER, "attributes": []}))
    [cause] = link_causes(Failing("ClientCertUntrusted", AT), [attrs], None)
    assert cause.evidence == "timing-only"
    assert cause.summary == (
        "ModifyListenerAttributes at 2026-05-20T05:00:00Z came before ClientCertUntrusted "
        "changed; nothing but the timing links them"
    )


def test_strongest_evidence_first_then_nearest_the_change_point() -> None:
    far = ev(modify_listener(T0, mode="verify"))
    near = ev(modify_listener(AT - timedelta(minutes=1), mode="verify"))
    crl = ev(add_revocations(T0, "pki", "crl.pem", "v1"))
    causes = [
        Cause(near, "timing-only", "t"),
        Cause(far, "listener-setting", "l"),
        Cause(crl, "revoked-serials", "r", ("0A",)),
        Cause(far, "timing-only", "t2"),
        Cause(near, "ca-removed", "c"),
    ]
    assert [c.summary for c in rank(causes, AT)] == ["r", "c", "l", "t", "t2"]
