"""Correlation of logged failures with the trust store, the CRLs and client certificates.

Given the files, each failure code is checked against them: which CRL revokes each serial,
whether any bundle CA could have issued an untrusted subject, and, for client certificates
found in ``--certs``, what the verdict engine predicts at the time of the connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from mtls_doctor.diagnose.model import DiagnosisWarning
from mtls_doctor.errors import CertificateLoadError, InputError
from mtls_doctor.pki.load import LoadedCrl, load_certificates, load_crls
from mtls_doctor.pki.names import subject_matches
from mtls_doctor.pki.verdict import TrustStore, check_chain

CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".p7b", ".p7c"}


def _serial_key(serial: int | str | None) -> str | None:
    if serial is None:
        return None
    if isinstance(serial, int):
        return format(serial, "X")
    return serial.upper().lstrip("0") or "0"


def _organisation(rfc4514: str | None) -> str | None:
    for part in (rfc4514 or "").split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "O":
            return value.strip()
    return None


def _only_a_key(path: Path) -> bool:
    """A PEM private-key file (its contents are never shown, only counted)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data


@dataclass
class ClientCertIndex:
    """Client certificates found under ``--certs``, by serial; each with its file's chain."""

    chains: dict[str, list[tuple[str, tuple[bytes, ...], x509.Certificate]]] = field(
        default_factory=dict
    )
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def from_folder(cls, folder: Path) -> ClientCertIndex:
        if not folder.is_dir():
            raise InputError(
                f"{folder}: not a folder of client certificates",
                hint="--certs takes a folder of PEM/DER certificate files.",
            )
        index = cls()
        keys = 0
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in CERT_SUFFIXES):
            try:
                loaded = load_certificates(path)
            except CertificateLoadError as error:
                if _only_a_key(path):  # expected next to a client's certificate: just counted
                    keys += 1
                else:
                    index.skipped.append(error.message)
                continue
            for position, cert in enumerate(loaded.certificates):
                key = _serial_key(cert.serial_number)
                assert key is not None
                chain = tuple(loaded.ders[position:])
                index.chains.setdefault(key, []).append((str(path), chain, cert))
        if keys:
            index.skipped.append(f"--certs: {keys} private-key file(s) skipped")
        return index

    def find(self, serial: str | None, subject: str | None) -> tuple[str, tuple[bytes, ...]] | None:
        for path, chain, cert in self.chains.get(_serial_key(serial) or "", []):
            if subject is None or subject_matches(subject, cert.subject):
                return path, chain
        return None


class Correlator:
    """Checks logged failures against a trust store, CRLs and client certificates."""

    def __init__(
        self,
        trust_store: TrustStore | None,
        crls: Sequence[LoadedCrl],
        certs: ClientCertIndex | None,
        ignore_expiry: bool = False,
    ) -> None:
        self.trust_store = trust_store
        self.crls = tuple(crls)
        self.certs = certs
        self.ignore_expiry = ignore_expiry

    @classmethod
    def from_files(
        cls,
        bundle: Path | None,
        crl_paths: Sequence[Path],
        certs_dir: Path | None,
        ignore_expiry: bool = False,
    ) -> Correlator:
        store = TrustStore.from_files(bundle, crl_paths) if bundle else None
        crls = list(store.crls) if store else [c for p in crl_paths for c in load_crls(p).crls]
        certs = ClientCertIndex.from_folder(certs_dir) if certs_dir else None
        return cls(store, crls, certs, ignore_expiry)

    def warnings(self) -> tuple[DiagnosisWarning, ...]:
        notes = list(self.trust_store.warnings) if self.trust_store else []
        if self.certs:
            notes += self.certs.skipped
        return (DiagnosisWarning("inputs", "; ".join(notes)),) if notes else ()

    def correlate(
        self, code: str, cert_rows: Sequence[tuple[Any, ...]], clients: Sequence[dict[str, Any]]
    ) -> tuple[dict[str, Any], ...]:
        """One finding per certificate row: CRL entries, issuer candidates, verdicts."""
        out: list[dict[str, Any]] = []
        for serial, subject, _nb, _na, _n, _clients, first, _last in cert_rows:
            item: dict[str, Any] = {"serial": serial, "subject": subject}
            if code == "ClientCertCrlHit" and self.crls:
                item["revocations"] = self._revocations(serial)
            if code == "ClientCertUntrusted" and self.trust_store is not None:
                item["issuer_candidates"] = self._issuer_candidates(subject)
            verdict = self._verdict(serial, subject, first)
            if verdict is not None:
                item.update(verdict)
                item["matches_log"] = verdict["predicted"] == code
            if len(item) > 2:
                out.append(item)
        return tuple(out)

    def _revocations(self, serial: str | None) -> list[dict[str, Any]]:
        if not serial:
            return []
        number = int(serial, 16)
        found = []
        for loaded in self.crls:
            entry = loaded.crl.get_revoked_certificate_by_serial_number(number)
            if entry is None:
                continue
            reason = None
            with contextlib.suppress(x509.ExtensionNotFound):
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
            found.append(
                {
                    "crl": loaded.source,
                    "issuer": loaded.crl.issuer.rfc4514_string(),
                    "revocation_date": entry.revocation_date_utc.isoformat().replace("+00:00", "Z"),
                    "reason": reason,
                }
            )
        return found

    def _issuer_candidates(self, subject: str | None) -> dict[str, Any]:
        # The log has no issuer: the closest hint is a CA of the same organisation.
        assert self.trust_store is not None
        org = _organisation(subject)
        cas = [c.subject.rfc4514_string() for c in self.trust_store.ca_certificates]
        same_org = [s for s in cas if org and _organisation(s) == org]
        return {"bundle_cas": cas, "same_organisation": same_org, "subject_organisation": org}

    def _verdict(
        self, serial: str | None, subject: str | None, when: datetime | None
    ) -> dict[str, Any] | None:
        if self.certs is None or self.trust_store is None:
            return None
        match = self.certs.find(serial, subject)
        if match is None:
            return None
        path, chain = match
        at = (when or datetime.now(UTC)).replace(tzinfo=UTC)
        result = check_chain(chain, self.trust_store, at=at, ignore_expiry=self.ignore_expiry)
        return {
            "certificate_file": path,
            "predicted": result.verdict,
            "checked_at": at.isoformat().replace("+00:00", "Z"),
            "findings": [f.message for f in result.findings],
        }
