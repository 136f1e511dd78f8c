"""CloudTrail records in the documented record format, and trail files laid out as trails do."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
REGION = "us-east-1"
LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:"
    "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
)
OTHER_LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/api/1111111111111111/2222"
)
TRUST_STORE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:truststore/web-ts/3ym756xh7yj"
OTHER_STORE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:truststore/api-ts/9abc"
ACTOR = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/alice"
T0 = datetime(2026, 5, 20, 5, 0, tzinfo=UTC)


def record(
    name: str,
    at: datetime,
    params: dict[str, Any] | None = None,
    *,
    read_only: bool = False,
    source: str = "elasticloadbalancing.amazonaws.com",
    error: str | None = None,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": ACTOR,
            "accountId": ACCOUNT,
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": response,
        "requestID": "b2c9f4d6-1111-2222-3333-444455556666",
        "eventID": f"e-{name}-{at.timestamp():.0f}",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if error:
        item["errorCode"] = error
        item["errorMessage"] = "User is not authorized to perform this action"
    return item


def modify_trust_store(at: datetime, bucket: str, key: str, version: str | None) -> dict[str, Any]:
    params = {
        "trustStoreArn": TRUST_STORE,
        "caCertificatesBundleS3Bucket": bucket,
        "caCertificatesBundleS3Key": key,
    }
    if version:
        params["caCertificatesBundleS3ObjectVersion"] = version
    return record("ModifyTrustStore", at, params)


def add_revocations(at: datetime, bucket: str, key: str, version: str) -> dict[str, Any]:
    content = {
        "s3Bucket": bucket,
        "s3Key": key,
        "s3ObjectVersion": version,
        "revocationType": "CRL",
    }
    return record(
        "AddTrustStoreRevocations",
        at,
        {"trustStoreArn": TRUST_STORE, "revocationContents": [content]},
    )


def modify_listener(at: datetime, listener: str = LISTENER, **mutual: Any) -> dict[str, Any]:
    return record("ModifyListener", at, {"listenerArn": listener, "mutualAuthentication": mutual})


def trail_key(at: datetime, serial: int = 0) -> str:
    """Where a trail delivers a file at ``at`` (delivery time in the name)."""
    return (
        f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{at:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail_{REGION}_{at:%Y%m%dT%H%MZ}_{serial:016X}.json.gz"
    )


def trail_bytes(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)


def write_trail(root: Path, records: list[dict[str, Any]], delivered: datetime) -> Path:
    path = root / trail_key(delivered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(trail_bytes(records))
    return path


def noise(at: datetime, count: int) -> list[dict[str, Any]]:
    """Read-only ELB calls and other services' calls, as a busy account has."""
    items = []
    for n in range(count):
        when = at + timedelta(seconds=n % 300)
        if n % 3 == 0:
            items.append(
                record("DescribeListeners", when, {"listenerArns": [LISTENER]}, read_only=True)
            )
        elif n % 3 == 1:
            items.append(record("RunInstances", when, {}, source="ec2.amazonaws.com"))
        else:
            items.append(record("DescribeTrustStores", when, {}, read_only=True))
    return items
