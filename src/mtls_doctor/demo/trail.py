"""The demo's trust-store change as CloudTrail records it, with the S3 object versions kept.

A trail file (``cloudtrail/AWSLogs/{account}/CloudTrail/{region}/yyyy/mm/dd/...json.gz``)
holds the trust store's creation, the listener set to verify with it, and, just before the
change, a ``ModifyTrustStore`` (the bundle without the intermediate) and an
``AddTrustStoreRevocations`` (the CRL); plus a read-only call and a change to another
listener, which are never causes. The bundle and CRL versions are kept in ``s3-versions/``
(:class:`~mtls_doctor.trail.objects.FolderVersions`), so the demo links them offline.
The record shapes follow CloudTrail's record format; the ``requestParameters`` keys are
[INFERENCE] (docs/changes.md).
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.trail.objects import FolderVersions

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "demo-pki-artifacts"
LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:"
    "listener/app/demo/0123456789abcdef/1a2b3c4d5e6f7a8b"
)
OTHER_LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/intranet/fedcba9876543210/99"
)
TRUST_STORE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:truststore/demo-ts/5e1f0a2b3c4d"
ACTOR = f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformDeploy/jenkins-release-2231"


def _record(name: str, at: datetime, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "arn": ACTOR, "accountId": ACCOUNT},
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "elasticloadbalancing.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "10.20.0.15",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": params,
        "responseElements": extra.pop("response", None),
        "eventID": f"demo-{name}-{int(at.timestamp())}",
        "readOnly": extra.pop("read_only", False),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }


def _bundle_params(key: str, version: str) -> dict[str, str]:
    return {
        "caCertificatesBundleS3Bucket": BUCKET,
        "caCertificatesBundleS3Key": key,
        "caCertificatesBundleS3ObjectVersion": version,
    }


def _write(root: Path, records: list[dict[str, Any]], delivered: datetime) -> None:
    name = f"{ACCOUNT}_CloudTrail_{REGION}_{delivered:%Y%m%dT%H%MZ}_demo{len(records):04d}.json.gz"
    path = root / f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{delivered:%Y/%m/%d}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))


def record_change(
    out: Path, before: Path, after: Path, crls: list[Path], created: datetime, changed: datetime
) -> tuple[Path, Path]:
    """Write the trail and keep the object versions; ``(trail folder, versions folder)``."""
    trail, versions = out / "cloudtrail", out / "s3-versions"
    store = FolderVersions(versions)
    key = "trust-store/ca-bundle.pem"
    v_before = store.keep(BUCKET, key, before.read_bytes())
    v_after = store.keep(BUCKET, key, after.read_bytes())
    contents = [
        {
            "s3Bucket": BUCKET,
            "s3Key": f"trust-store/{crl.name}",
            "s3ObjectVersion": store.keep(BUCKET, f"trust-store/{crl.name}", crl.read_bytes()),
            "revocationType": "CRL",
        }
        for crl in crls
    ]
    response = {"trustStores": [{"trustStoreArn": TRUST_STORE, "name": "demo-ts"}]}
    mutual = {"mode": "verify", "trustStoreArn": TRUST_STORE}
    early = [
        _record("CreateTrustStore", created, {"name": "demo-ts", **_bundle_params(key, v_before)},
                response=response),
        _record("ModifyListener", created + timedelta(minutes=5),
                {"listenerArn": LISTENER, "mutualAuthentication": mutual}),
    ]  # fmt: skip
    late = [
        _record("ModifyListenerAttributes", changed - timedelta(minutes=6),
                {"listenerArn": OTHER_LISTENER, "attributes": [{"key": "tcp.idle_timeout.seconds",
                                                                "value": "300"}]}),
        _record("DescribeTrustStores", changed - timedelta(minutes=2),
                {"trustStoreArns": [TRUST_STORE]}, read_only=True),
        _record("ModifyTrustStore", changed - timedelta(seconds=70),
                {"trustStoreArn": TRUST_STORE, **_bundle_params(key, v_after)}),
        _record("AddTrustStoreRevocations", changed - timedelta(seconds=40),
                {"trustStoreArn": TRUST_STORE, "revocationContents": contents}),
    ]  # fmt: skip
    _write(trail, early, created + timedelta(minutes=10))
    _write(trail, late, changed + timedelta(minutes=4))
    return trail, versions
