"""Evidence from exact S3 object versions (a versioned moto bucket on loopback)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization

from mtls_doctor.aws.cloudtrail import S3Versions
from mtls_doctor.pki.issue import CertSpec, generate_key, issue, make_crl
from mtls_doctor.trail.event import ChangeEvent, parse_record
from mtls_doctor.trail.link import Failing, link_causes
from mtls_doctor.trail.objects import CachedFetcher, fingerprint
from mtls_doctor.trail.verdicts import ClientChain
from tests.aws.conftest import Hook
from tests.aws.pkidata import Pki, build, pem, serial_hex
from tests.aws.test_s3 import _error_response
from tests.trail.records import T0, TRUST_STORE, add_revocations, modify_trust_store, record

BUCKET = "pki-artifacts"
AT = T0 + timedelta(minutes=20)


def versioned(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def put(s3: Any, key: str, body: bytes) -> str:
    return str(s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])


def event(item: dict[str, Any]) -> ChangeEvent:
    parsed = parse_record(item)
    assert parsed is not None
    return parsed


def crl_pem(pki: Pki, serials: list[int]) -> bytes:
    return make_crl(pki.root, serials, at=T0).public_bytes(serialization.Encoding.PEM)


def test_revoked_serials_come_from_the_exact_crl_version(s3: Any) -> None:
    pki = build(T0)
    versioned(s3)
    put(s3, "crl.pem", crl_pem(pki, []))
    revoking = put(s3, "crl.pem", crl_pem(pki, [pki.revoked.cert.serial_number]))
    put(s3, "crl.pem", crl_pem(pki, []))  # the current object revokes nothing
    failing = Failing("ClientCertCrlHit", AT, (serial_hex(pki.revoked), "0A0B0C"))
    added = event(add_revocations(T0 + timedelta(minutes=10), BUCKET, "crl.pem", revoking))
    [cause] = link_causes(failing, [added], S3Versions())
    assert cause.evidence == "revoked-serials"
    assert cause.matched_serials == (serial_hex(pki.revoked),)
    assert cause.matched_serials[0] == cause.matched_serials[0].upper()
    assert cause.details["crls"][0]["object"] == f"s3://{BUCKET}/crl.pem?versionId={revoking}"
    assert cause.to_dict()["actor"].endswith("assumed-role/Deployer/alice")
    assert "revokes 1 of the 2 failing" in cause.summary


def test_a_crl_that_revokes_none_of_them_is_timing_only(s3: Any) -> None:
    pki = build(T0)
    versioned(s3)
    empty = put(s3, "crl.pem", crl_pem(pki, []))
    put(s3, "crl.pem", crl_pem(pki, [pki.revoked.cert.serial_number]))
    failing = Failing("ClientCertCrlHit", AT, (serial_hex(pki.revoked),))
    added = event(add_revocations(T0 + timedelta(minutes=10), BUCKET, "crl.pem", empty))
    [cause] = link_causes(failing, [added], S3Versions())
    assert cause.evidence == "timing-only" and cause.matched_serials == ()
    assert "nothing but the timing links them" in cause.summary
    assert cause.details["crls"][0]["revoked"] == 0


def test_a_missing_version_and_a_denied_read_are_reported(
    s3: Any, client_hooks: list[Hook]
) -> None:
    pki = build(T0)
    versioned(s3)
    put(s3, "crl.pem", crl_pem(pki, [pki.revoked.cert.serial_number]))
    failing = Failing("ClientCertCrlHit", AT, (serial_hex(pki.revoked),))
    gone = event(
        add_revocations(T0 + timedelta(minutes=10), BUCKET, "crl.pem", "3HL4kqtJlcpXroDTDmJ")
    )
    [cause] = link_causes(failing, [gone], S3Versions())
    assert cause.evidence == "timing-only"
    assert cause.details["unreadable"][0]["error"].endswith("no such object version")
    client_hooks.append(
        (
            "before-call.s3.GetObject",
            lambda **_: _error_response(403, "AccessDenied", "Access Denied"),
        )
    )
    version = s3.list_object_versions(Bucket=BUCKET)["Versions"][0]["VersionId"]
    denied = event(add_revocations(T0 + timedelta(minutes=10), BUCKET, "crl.pem", version))
    [cause] = link_causes(failing, [denied], S3Versions())
    assert cause.evidence == "timing-only"
    assert "access denied to s3:GetObjectVersion" in cause.details["unreadable"][0]["error"]


def test_ca_removed_diffs_the_previous_and_the_new_bundle(s3: Any) -> None:
    pki = build(T0)
    old_root = issue(
        CertSpec("Old Root", T0 - timedelta(days=99), T0 + timedelta(days=99), is_ca=True),
        None,
        generate_key("ec256"),
    )
    versioned(s3)
    put(s3, "bundle.pem", pem(old_root.cert) + pki.bundle)
    new = put(s3, "bundle.pem", pki.bundle)
    modified = event(modify_trust_store(T0 + timedelta(minutes=12), BUCKET, "bundle.pem", new))
    fetcher = CachedFetcher(S3Versions())
    [cause] = link_causes(Failing("ClientCertUntrusted", AT), [modified], fetcher)
    assert cause.evidence == "ca-removed"
    assert cause.details["added"] == []
    [removed] = cause.details["removed"]
    der = old_root.cert.public_bytes(serialization.Encoding.DER)
    assert removed == {
        "subject": old_root.cert.subject.rfc4514_string(),
        "serial": removed["serial"],
        "sha256": fingerprint(der),
    }
    assert int(removed["serial"], 16) == old_root.cert.serial_number
    assert cause.details["previous_from"] == "the previous version of the same S3 object"
    # The same change does not explain expired certificates: the diff stays, the claim does not.
    [other] = link_causes(Failing("ClientCertExpired", AT), [modified], fetcher)
    assert other.evidence == "timing-only" and other.details["removed"] == [removed]


def test_the_previous_bundle_comes_from_the_trust_stores_earlier_event(s3: Any) -> None:
    pki = build(T0)
    versioned(s3)
    first = put(s3, "first.pem", pki.bundle)
    put(s3, "bundle.pem", pki.bundle)  # same key's previous version: not what was in effect
    other = issue(
        CertSpec("Other Root", T0, T0 + timedelta(days=9), is_ca=True), None, generate_key("ec256")
    )
    new = put(s3, "bundle.pem", pem(other.cert))
    response = {"trustStores": [{"trustStoreArn": TRUST_STORE}]}
    created = event(
        record(
            "CreateTrustStore",
            T0 - timedelta(days=30),
            {
                "name": "web-ts",
                "caCertificatesBundleS3Bucket": BUCKET,
                "caCertificatesBundleS3Key": "first.pem",
                "caCertificatesBundleS3ObjectVersion": first,
            },
            response=response,
        )
    )
    modified = event(modify_trust_store(T0 + timedelta(minutes=12), BUCKET, "bundle.pem", new))
    [cause] = link_causes(
        Failing("ClientCertUntrusted", AT), [modified], S3Versions(), [created, modified]
    )
    assert cause.evidence == "ca-removed"
    assert cause.details["previous"] == f"s3://{BUCKET}/first.pem?versionId={first}"
    assert [c["subject"] for c in cause.details["added"]] == [other.cert.subject.rfc4514_string()]


def _ca_change(s3: Any) -> tuple[Pki, Any, ChangeEvent]:
    pki = build(T0)
    old_root = issue(
        CertSpec("Old Root", T0 - timedelta(days=99), T0 + timedelta(days=99), is_ca=True),
        None,
        generate_key("ec256"),
    )
    versioned(s3)
    put(s3, "bundle.pem", pem(old_root.cert) + pki.bundle)
    new = put(s3, "bundle.pem", pki.bundle)
    return (
        pki,
        old_root,
        event(modify_trust_store(T0 + timedelta(minutes=12), BUCKET, "bundle.pem", new)),
    )


def _chain(client: Any) -> ClientChain:
    der = client.cert.public_bytes(serialization.Encoding.DER)
    return ClientChain(format(client.cert.serial_number, "X"), "clients/c.pem", (der,))


def test_certs_prove_only_the_new_bundle_rejects_the_clients(s3: Any) -> None:
    _, old_root, modified = _ca_change(s3)
    client = issue(
        CertSpec("old-client", T0 - timedelta(days=1), T0 + timedelta(days=9)),
        old_root,
        generate_key("ec256"),
    )
    # Even for a code the diff alone does not claim, the verdicts prove it.
    failing = Failing("ClientCertExpired", AT, chains=(_chain(client),))
    [cause] = link_causes(failing, [modified], S3Versions())
    assert cause.evidence == "ca-removed"
    assert cause.details["verdicts"] == [
        {
            "serial": _chain(client).serial,
            "certificate_file": "clients/c.pem",
            "previous_bundle": "Success",
            "new_bundle": "ClientCertUntrusted",
            "only_new_rejects": True,
        }
    ]
    assert cause.summary.endswith(
        "1 of 1 failing client certificate(s) given pass the previous bundle and fail the new one"
    )


def test_certs_that_both_bundles_treat_alike_clear_the_change(s3: Any) -> None:
    pki, _, modified = _ca_change(s3)
    # Issued by the root both bundles hold: the removal does not explain its failure.
    failing = Failing("ClientCertUntrusted", AT, chains=(_chain(pki.revoked),))
    [cause] = link_causes(failing, [modified], S3Versions())
    assert cause.evidence == "timing-only"
    assert cause.details["verdicts"][0]["only_new_rejects"] is False
    assert len(cause.details["removed"]) == 1
