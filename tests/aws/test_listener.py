"""Listener mTLS settings and trust-store fetch with Stubber-fed elbv2 (moto lacks them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.aws.listener import default_header_name, describe_listener
from mtls_doctor.aws.truststore import fetch_trust_store, redact
from mtls_doctor.errors import AwsAccessError, InputError
from mtls_doctor.pki.bundle import check_trust_store
from tests.aws.pkidata import build
from tests.aws.stubs import LISTENER_ARN, TRUST_STORE_ARN, add_fetch, add_listener, stubbed_elbv2


def codes(settings: Any) -> set[str]:
    return {f.code for f in settings.findings}


def test_verify_listener_with_everything_right_has_only_notes(aws_env: str) -> None:
    client, stub = stubbed_elbv2()
    add_listener(
        stub,
        Mode="verify",
        TrustStoreArn=TRUST_STORE_ARN,
        AdvertiseTrustStoreCaNames="on",
        IgnoreClientCertificateExpiry=False,
        TrustStoreAssociationStatus="active",
    )
    with stub:
        settings = describe_listener(LISTENER_ARN, client=client)
    stub.assert_no_pending_responses()
    assert (
        settings.mode == "verify"
        and settings.trust_store
        and settings.trust_store.status == "ACTIVE"
    )
    assert all(f.severity == "info" for f in settings.findings)
    assert settings.to_dict()["mutual_authentication"]["trust_store_association_status"] == "active"
    # Near miss: the same listener whose shared association was removed.
    client, stub = stubbed_elbv2()
    add_listener(
        stub,
        Mode="verify",
        TrustStoreArn=TRUST_STORE_ARN,
        AdvertiseTrustStoreCaNames="on",
        TrustStoreAssociationStatus="removed",
    )
    with stub:
        removed = describe_listener(LISTENER_ARN, client=client)
    assert "TrustStoreAssociationRemoved" in codes(removed)


@pytest.mark.parametrize(
    ("mutual", "code"),
    [
        ({}, "MtlsOff"),
        ({"Mode": "off"}, "MtlsOff"),
        ({"Mode": "passthrough", "TrustStoreArn": TRUST_STORE_ARN}, "PassthroughWithTrustStore"),
        ({"Mode": "passthrough"}, "Passthrough"),
        ({"Mode": "verify", "TrustStoreArn": TRUST_STORE_ARN}, "CaNamesNotAdvertised"),
        (
            {
                "Mode": "verify",
                "TrustStoreArn": TRUST_STORE_ARN,
                "AdvertiseTrustStoreCaNames": "on",
                "IgnoreClientCertificateExpiry": True,
            },
            "IgnoreExpiryOn",
        ),
        ({"Mode": "verify"}, "VerifyWithoutTrustStore"),
    ],
)
def test_mode_findings(aws_env: str, mutual: dict[str, Any], code: str) -> None:
    client, stub = stubbed_elbv2()
    add_listener(stub, **mutual)
    with stub:
        settings = describe_listener(LISTENER_ARN, client=client)
    assert code in codes(settings)
    if code == "Passthrough":  # near miss of PassthroughWithTrustStore
        assert "PassthroughWithTrustStore" not in codes(settings)


def test_creating_trust_store_and_renamed_header(aws_env: str) -> None:
    client, stub = stubbed_elbv2()
    add_listener(
        stub,
        status="CREATING",
        renamed="X-Client-Serial",
        Mode="verify",
        TrustStoreArn=TRUST_STORE_ARN,
        AdvertiseTrustStoreCaNames="on",
    )
    with stub:
        settings = describe_listener(LISTENER_ARN, client=client)
    assert "TrustStoreNotActive" in codes(settings)
    assert settings.headers == {"X-Amzn-Mtls-Clientcert-Serial-Number": "X-Client-Serial"}
    assert (
        default_header_name("routing.http.request.x_amzn_tls_version.header_name")
        == "X-Amzn-Tls-Version"
    )


def test_unknown_listener_is_bad_input_and_refusal_is_exit_4(aws_env: str) -> None:
    client, stub = stubbed_elbv2()
    stub.add_client_error(
        "describe_listeners", "ListenerNotFound", "One or more listeners not found", 400
    )
    with stub, pytest.raises(InputError, match="no such listener"):
        describe_listener(LISTENER_ARN, client=client)
    client, stub = stubbed_elbv2()
    stub.add_client_error("describe_listeners", "AccessDenied", "not authorized", 403)
    with stub, pytest.raises(AwsAccessError, match="elasticloadbalancing:DescribeListeners"):
        describe_listener(LISTENER_ARN, client=client)
    with pytest.raises(InputError, match="not a listener ARN"):
        describe_listener(TRUST_STORE_ARN, client=client)


def presign(s3: Any, key: str, data: bytes) -> str:
    """A presigned GET on the moto server: what the trust-store API would hand out."""
    s3.create_bucket(Bucket="ts-src")  # idempotent in us-east-1
    s3.put_object(Bucket="ts-src", Key=key, Body=data)
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": "ts-src", "Key": key}, ExpiresIn=600
        )
    )


def test_fetch_writes_bundle_crls_and_manifest_over_real_http(s3: Any, tmp_path: Path) -> None:
    pki = build()
    bundle_url = presign(s3, "bundle.pem", pki.bundle)
    assert bundle_url.startswith("http://127.0.0.1:") and "Signature" in bundle_url
    client, stub = stubbed_elbv2()
    add_fetch(stub, bundle_url, {3: presign(s3, "crl/revoked-list.crl", pki.crl)})
    now = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    with stub:
        fetched = fetch_trust_store(TRUST_STORE_ARN, tmp_path / "ts", now=now, client=client)
    assert (tmp_path / "ts" / "ca-bundle.pem").read_bytes() == pki.bundle
    assert (tmp_path / "ts" / "crl-3.pem").read_bytes() == pki.crl
    manifest = json.loads((tmp_path / "ts" / "manifest.json").read_text())
    assert manifest["trust_store"]["arn"] == TRUST_STORE_ARN
    assert [f["file"] for f in manifest["files"]] == ["ca-bundle.pem", "crl-3.pem"]
    assert "Signature" not in json.dumps(manifest)  # presigned links are bearer secrets
    assert check_trust_store(fetched.bundle_path, fetched.crl_paths, now=now).ok


def test_fetch_of_an_expired_link_is_exit_4_without_the_signature(s3: Any, tmp_path: Path) -> None:
    url = presign(s3, "bundle.pem", b"x")
    s3.delete_object(Bucket="ts-src", Key="bundle.pem")
    client, stub = stubbed_elbv2()
    add_fetch(stub, url, {})
    with stub, pytest.raises(AwsAccessError, match="answered HTTP 404") as raised:
        fetch_trust_store(TRUST_STORE_ARN, tmp_path / "ts", now=datetime.now(UTC), client=client)
    assert "Signature" not in raised.value.message and redact(url) in raised.value.message
