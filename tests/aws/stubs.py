"""Stubber-fed elbv2 clients for the calls moto does not implement (spec §7.4).

Responses are validated by botocore's Stubber against the installed service model.
"""

from __future__ import annotations

from typing import Any

REGION = "us-east-1"
ACCOUNT = "111122223333"
LISTENER_ARN = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:"
    "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
)
TRUST_STORE_ARN = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:truststore/my-trust-store/3ym756xh7yj"
)
HEADER_KEY = "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name"


def stubbed_elbv2() -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("elbv2", region_name=REGION)
    return client, Stubber(client)


def listener_response(**mutual: Any) -> dict[str, Any]:
    listener: dict[str, Any] = {
        "ListenerArn": LISTENER_ARN,
        "Port": 443,
        "Protocol": "HTTPS",
        "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    }
    if mutual:
        listener["MutualAuthentication"] = mutual
    return {"Listeners": [listener]}


def add_listener(
    stub: Any, *, status: str = "ACTIVE", renamed: str | None = None, **mutual: Any
) -> None:
    stub.add_response(
        "describe_listeners", listener_response(**mutual), {"ListenerArns": [LISTENER_ARN]}
    )
    attributes = [{"Key": "tcp.idle_timeout.seconds", "Value": "350"}]
    if renamed is not None:
        attributes.append({"Key": HEADER_KEY, "Value": renamed})
    stub.add_response(
        "describe_listener_attributes", {"Attributes": attributes}, {"ListenerArn": LISTENER_ARN}
    )
    if mutual.get("TrustStoreArn"):
        add_trust_store(stub, status=status)


def add_trust_store(stub: Any, *, status: str = "ACTIVE") -> None:
    stub.add_response(
        "describe_trust_stores",
        {
            "TrustStores": [
                {
                    "Name": "my-trust-store",
                    "TrustStoreArn": TRUST_STORE_ARN,
                    "Status": status,
                    "NumberOfCaCertificates": 1,
                    "TotalRevokedEntries": 1,
                }
            ]
        },
        {"TrustStoreArns": [TRUST_STORE_ARN]},
    )


def add_fetch(stub: Any, bundle_url: str, crl_urls: dict[int, str]) -> None:
    add_trust_store(stub)
    stub.add_response(
        "get_trust_store_ca_certificates_bundle",
        {"Location": bundle_url},
        {"TrustStoreArn": TRUST_STORE_ARN},
    )
    stub.add_response(
        "describe_trust_store_revocations",
        {
            "TrustStoreRevocations": [
                {
                    "TrustStoreArn": TRUST_STORE_ARN,
                    "RevocationId": rid,
                    "RevocationType": "CRL",
                    "NumberOfRevokedEntries": 1,
                }
                for rid in crl_urls
            ]
        },
        {"TrustStoreArn": TRUST_STORE_ARN},
    )
    for rid, url in crl_urls.items():
        stub.add_response(
            "get_trust_store_revocation_content",
            {"Location": url},
            {"TrustStoreArn": TRUST_STORE_ARN, "RevocationId": rid},
        )
