"""Download the CA bundle and revocation lists a trust store has in effect.

What is in effect is what the ALB copied at create/modify time, which may differ from the
S3 object it came from, so the bundle and each CRL are fetched through the API's presigned
links (``GetTrustStoreCaCertificatesBundle``, ``GetTrustStoreRevocationContent``; spec §3.4,
§7.1), never from the original objects. The links are bearer credentials for 10 minutes:
they are neither written to the manifest nor shown in messages.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mtls_doctor.aws.listener import TrustStoreInfo, describe_trust_store, elbv2_client
from mtls_doctor.aws.session import check_arn, translate
from mtls_doctor.errors import AwsAccessError
from mtls_doctor.timeutil import iso_z

BUNDLE_NAME = "ca-bundle.pem"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class FetchedFile:
    """One file written by :func:`fetch_trust_store`."""

    kind: str  # bundle | crl
    path: Path
    sha256: str
    size: int
    revocation_id: int | None = None
    revoked_entries: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.path.name,
            "sha256": self.sha256,
            "size": self.size,
            "revocation_id": self.revocation_id,
            "revoked_entries": self.revoked_entries,
        }


@dataclass(frozen=True)
class FetchedTrustStore:
    """A trust store's bundle and CRLs as written to ``out_dir``, with its manifest."""

    info: TrustStoreInfo
    out_dir: Path
    fetched_at: datetime
    bundle: FetchedFile
    crls: tuple[FetchedFile, ...]

    @property
    def bundle_path(self) -> Path:
        return self.bundle.path

    @property
    def crl_paths(self) -> tuple[Path, ...]:
        return tuple(c.path for c in self.crls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "trust_store": self.info.to_dict(),
            "fetched_at": iso_z(self.fetched_at),
            "out_dir": str(self.out_dir),
            "files": [self.bundle.to_dict(), *(c.to_dict() for c in self.crls)],
        }


def redact(url: str) -> str:
    """A presigned URL without its query (the signature and any session token)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def download_presigned(url: str, what: str, *, attempts: int = 4, backoff: float = 0.5) -> bytes:
    """GET a presigned link, retrying 5xx and dropped connections with backoff."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise AwsAccessError(f"{what}: the API returned a link that is not http(s)")
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == attempts:
                raise AwsAccessError(
                    f"{what}: the presigned link {redact(url)} answered HTTP {error.code}",
                    hint="Links are valid 10 minutes: rerun; check the clock and any HTTP proxy.",
                ) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == attempts:
                raise AwsAccessError(
                    f"{what}: cannot download {redact(url)} ({error})",
                    hint="Check the network and any HTTP(S)_PROXY setting.",
                ) from error
        time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _write(path: Path, data: bytes, kind: str, **extra: Any) -> FetchedFile:
    path.write_bytes(data)
    return FetchedFile(kind, path, hashlib.sha256(data).hexdigest(), len(data), **extra)


def _revocations(elb: Any, arn: str) -> list[dict[str, Any]]:
    try:
        pages = elb.get_paginator("describe_trust_store_revocations").paginate(TrustStoreArn=arn)
        return [r for page in pages for r in page.get("TrustStoreRevocations", [])]
    except Exception as error:
        raise translate(
            error, action="elasticloadbalancing:DescribeTrustStoreRevocations", resource=arn
        ) from error


def _location(elb: Any, operation: str, action: str, arn: str, **params: Any) -> str:
    try:
        return str(getattr(elb, operation)(TrustStoreArn=arn, **params)["Location"])
    except Exception as error:
        raise translate(error, action=f"elasticloadbalancing:{action}", resource=arn) from error


def fetch_trust_store(
    arn: str,
    out_dir: Path,
    *,
    now: datetime,
    profile: str | None = None,
    region: str | None = None,
    client: Any = None,
) -> FetchedTrustStore:
    """Write the bundle (``ca-bundle.pem``), each CRL (``crl-<id>.pem``) and ``manifest.json``."""
    check_arn(arn, "truststore")
    elb = client or elbv2_client(arn, profile, region)
    info = describe_trust_store(elb, arn) or TrustStoreInfo(arn, None, None, None, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    link = _location(
        elb, "get_trust_store_ca_certificates_bundle", "GetTrustStoreCaCertificatesBundle", arn
    )
    bundle = _write(out_dir / BUNDLE_NAME, download_presigned(link, f"{arn} CA bundle"), "bundle")
    crls = []
    for item in sorted(_revocations(elb, arn), key=lambda r: int(r["RevocationId"])):
        rid = int(item["RevocationId"])
        link = _location(
            elb,
            "get_trust_store_revocation_content",
            "GetTrustStoreRevocationContent",
            arn,
            RevocationId=rid,
        )
        data = download_presigned(link, f"{arn} revocation list {rid}")
        crls.append(
            _write(
                out_dir / f"crl-{rid}.pem",
                data,
                "crl",
                revocation_id=rid,
                revoked_entries=item.get("NumberOfRevokedEntries"),
            )
        )
    fetched = FetchedTrustStore(info, out_dir, now, bundle, tuple(crls))
    (out_dir / MANIFEST_NAME).write_text(json.dumps(fetched.to_dict(), indent=2) + "\n")
    return fetched
