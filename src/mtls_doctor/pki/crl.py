"""CRLs as the trust store would hold them: who signed each, what it revokes, if usable.

Everything that does not depend on the time is worked out once per trust store
(:func:`prepare_crls`); :func:`usable_problems` adds the time checks per call.
Assumptions (UNCONFIRMED, spec §3.5): the CRL issuer must be a CA in the bundle and its
signature must verify with that CA's key; negative serials revoke nothing (AWS says the ALB
cannot revoke them); a CRL stored as DER is unusable (AWS accepts PEM only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from mtls_doctor.pki.inspect import format_time
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl
from mtls_doctor.pki.path import CaIndex


@dataclass(frozen=True)
class CrlStatus:
    """One CRL with its signer in the bundle (if any) and its time-independent problems."""

    loaded: LoadedCrl
    signer_index: int | None
    problems: tuple[str, ...]
    revoked: frozenset[int] = field(repr=False)
    negative_serials: int = 0

    @property
    def issuer_key(self) -> bytes:
        """DER of the CRL's issuer name, to match a certificate's issuer."""
        return self.loaded.crl.issuer.public_bytes()

    @property
    def label(self) -> str:
        """How findings name this CRL."""
        return f"CRL {self.loaded.source}"


def _signer(crl: x509.CertificateRevocationList, cas: CaIndex) -> tuple[int | None, list[str]]:
    candidates = cas.by_subject.get(crl.issuer.public_bytes(), ())
    if not candidates:
        return None, [f"its issuer {crl.issuer.rfc4514_string()} is not a CA in the trust store"]
    for index in candidates:
        ca = cas.certificates[index]
        try:
            valid = crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError):
            valid = False
        if not valid:
            continue
        usage = _key_usage(ca)
        if usage is not None and not usage.crl_sign:
            return index, [f"its issuer (trust-store CA {index}) has no cRLSign keyUsage"]
        return index, []
    return None, ["its signature does not verify with the key of the trust-store CA it names"]


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def prepare_crls(crls: Sequence[LoadedCrl], cas: CaIndex) -> tuple[CrlStatus, ...]:
    """Check each CRL's format and signature once and index its revoked serials."""
    statuses = []
    for loaded in crls:
        signer, problems = _signer(loaded.crl, cas)
        if not loaded.was_pem:
            problems.insert(0, "it is DER; the ALB accepts PEM CRLs only")
        serials = [entry.serial_number for entry in loaded.crl]
        negative = sum(1 for s in serials if s < 0)
        revoked = frozenset(s for s in serials if s >= 0)
        statuses.append(CrlStatus(loaded, signer, tuple(problems), revoked, negative))
    return tuple(statuses)


def usable_problems(status: CrlStatus, at: datetime, limits: AlbLimits) -> list[str]:
    """Why ``status`` cannot be used at ``at`` (static problems plus its validity window)."""
    problems = list(status.problems)
    crl = status.loaded.crl
    if crl.last_update_utc > at:
        problems.append(f"it is not valid before {format_time(crl.last_update_utc)}")
    next_update = crl.next_update_utc
    if limits.crl_check_next_update and next_update is not None and next_update < at:
        problems.append(f"it is past its nextUpdate ({format_time(next_update)})")
    return problems


def index_by_issuer(statuses: Sequence[CrlStatus]) -> dict[bytes, tuple[CrlStatus, ...]]:
    """CRLs grouped by issuer name, for a quick look-up per certificate."""
    grouped: dict[bytes, list[CrlStatus]] = {}
    for status in statuses:
        grouped.setdefault(status.issuer_key, []).append(status)
    return {key: tuple(value) for key, value in grouped.items()}
