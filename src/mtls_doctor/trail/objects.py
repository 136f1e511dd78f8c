"""The S3 object versions an event put in effect: the CA bundles it swapped, the CRLs it added.

Fetched through :class:`ObjectFetcher`, which the CLI builds from ``mtls_doctor.aws`` (the
only boto3 user) and passes in. Contents are read with the pki loaders; a CA is named by
subject, serial (upper-case hex, as the logs write serials) and SHA-256 fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.errors import InputError, MtlsDoctorError
from mtls_doctor.pki.inspect import format_serial
from mtls_doctor.pki.load import load_certificates_from_bytes, load_crls_from_bytes


class ObjectFetcher(Protocol):
    """Reads exact S3 object versions. Raises :class:`MtlsDoctorError` on denial or absence."""

    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        """The object's bytes: ``version`` exactly, or the current object when None."""

    def previous_version(self, bucket: str, key: str, version: str) -> str | None:
        """The version of ``key`` written just before ``version``; None when there is none."""


@dataclass(frozen=True)
class ObjectRef:
    """An S3 object version named by an event."""

    bucket: str
    key: str
    version: str | None

    @property
    def url(self) -> str:
        tail = f"?versionId={self.version}" if self.version else ""
        return f"s3://{self.bucket}/{self.key}{tail}"

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], bucket: str, key: str, version: str
    ) -> ObjectRef | None:
        b, k, v = params.get(bucket), params.get(key), params.get(version)
        if not isinstance(b, str) or not isinstance(k, str) or not b or not k:
            return None
        return cls(b, k, v if isinstance(v, str) and v else None)


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()


def ca_entry(cert: x509.Certificate, der: bytes) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "serial": format_serial(cert.serial_number),
        "sha256": fingerprint(der),
    }


def read_bundle(fetcher: ObjectFetcher, ref: ObjectRef) -> dict[str, dict[str, str]]:
    """``{fingerprint: CA entry}`` of the bundle at ``ref``."""
    return {
        fingerprint(cert.public_bytes(Encoding.DER)): ca_entry(
            cert, cert.public_bytes(Encoding.DER)
        )
        for cert in read_bundle_certificates(fetcher, ref)
    }


def read_bundle_certificates(fetcher: ObjectFetcher, ref: ObjectRef) -> list[x509.Certificate]:
    data = fetcher.get_object(ref.bucket, ref.key, ref.version)
    return list(load_certificates_from_bytes(data, ref.url).certificates)


def bundle_diff(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> dict[str, list[dict[str, str]]]:
    """CAs added and removed, by fingerprint, in subject order."""

    def ordered(keys: set[str], side: dict[str, dict[str, str]]) -> list[dict[str, str]]:
        return sorted((side[k] for k in keys), key=lambda c: (c["subject"], c["sha256"]))

    return {
        "added": ordered(set(after) - set(before), after),
        "removed": ordered(set(before) - set(after), before),
    }


@dataclass(frozen=True)
class RevokedList:
    """The revoked serials of one CRL object version."""

    ref: ObjectRef
    issuers: tuple[str, ...]
    serials: frozenset[int]


def read_revoked(fetcher: ObjectFetcher, ref: ObjectRef) -> RevokedList:
    loaded = load_crls_from_bytes(fetcher.get_object(ref.bucket, ref.key, ref.version), ref.url)
    serials = frozenset(r.serial_number for c in loaded.crls for r in c.crl)
    issuers = tuple(c.crl.issuer.rfc4514_string() for c in loaded.crls)
    return RevokedList(ref, issuers, serials)


def serial_value(text: str) -> int | None:
    """A log serial (hex, maybe with colons or a sign) as a number; serials compare as numbers."""
    cleaned = text.strip().replace(":", "")
    try:
        return int(cleaned, 16) if cleaned and cleaned != "-" else None
    except ValueError:
        return None


class CachedFetcher:
    """Each object version read once per diagnosis, errors included."""

    def __init__(self, inner: ObjectFetcher) -> None:
        self._inner = inner
        self._objects: dict[tuple[str, str, str | None], bytes | MtlsDoctorError] = {}

    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        slot = (bucket, key, version)
        if slot not in self._objects:
            try:
                self._objects[slot] = self._inner.get_object(bucket, key, version)
            except MtlsDoctorError as error:
                self._objects[slot] = error
        found = self._objects[slot]
        if isinstance(found, MtlsDoctorError):
            raise found
        return found

    def previous_version(self, bucket: str, key: str, version: str) -> str | None:
        return self._inner.previous_version(bucket, key, version)


VERSIONS_FILE = "_versions.txt"


class FolderVersions:
    """Object versions kept in a folder, for offline use (the demo keeps its bundles and CRLs
    so): ``root/{bucket}/{key}/{version}``, and ``_versions.txt`` there listing the version
    ids oldest first. Same errors as S3: a missing version says so."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, bucket: str, key: str) -> Path:
        parts = [p for p in key.split("/") if p not in ("", ".", "..")]
        return self.root.joinpath(bucket, *parts)

    def versions(self, bucket: str, key: str) -> list[str]:
        listing = self._folder(bucket, key) / VERSIONS_FILE
        try:
            return [v for v in listing.read_text(encoding="utf-8").split() if v]
        except OSError:
            return []

    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        url = ObjectRef(bucket, key, version).url
        known = self.versions(bucket, key)
        chosen = version or (known[-1] if known else None)
        if chosen is None or chosen not in known:
            raise InputError(f"{url}: no such object version (in {self.root})")
        try:
            return (self._folder(bucket, key) / chosen).read_bytes()
        except OSError as error:
            raise InputError(f"{url}: cannot read ({error.strerror or error})") from None

    def previous_version(self, bucket: str, key: str, version: str) -> str | None:
        known = self.versions(bucket, key)
        index = known.index(version) if version in known else 0
        return known[index - 1] if index > 0 else None

    def keep(self, bucket: str, key: str, data: bytes) -> str:
        """Store ``data`` as the newest version of ``key``; its version id."""
        folder = self._folder(bucket, key)
        folder.mkdir(parents=True, exist_ok=True)
        known = self.versions(bucket, key)
        version = f"{len(known) + 1:04d}.{hashlib.sha256(data).hexdigest()[:16]}"
        (folder / version).write_bytes(data)
        (folder / VERSIONS_FILE).write_text("\n".join([*known, version]) + "\n", encoding="utf-8")
        return version
