"""CRLs as the trust store would hold them: who signed each, what it revokes, if usable.

Everything that does not depend on the time or the path is worked out once per trust store
(:func:`prepare_crls`). For a certificate on a path, :func:`choose` picks the CRLs that
count (OpenSSL: the newest timely one of the issuer) and :func:`path_problems` says why one
cannot be used: checked as OpenSSL's ``check_crl`` does, with the issuer on the path
(cRLSign, validity window, signature). Issuer names are compared as RFC 5280 says
(:mod:`~mtls_doctor.pki.names`).
Assumptions (UNCONFIRMED, spec §3.5): negative serials revoke nothing (AWS says the ALB
cannot revoke them); a CRL stored as DER is unusable (AWS accepts PEM only); the settings
``crl_*`` of :class:`~mtls_doctor.pki.limits.AlbLimits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mtls_doctor.pki.inspect import format_time
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl
from mtls_doctor.pki.names import name_key
from mtls_doctor.pki.path import CaIndex, PathLink, label
from mtls_doctor.pki.signing import akid_matches, crl_signature_valid

_SHA256 = hashes.SHA256()


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
        """Canonical key of the CRL's issuer name, to match a certificate's issuer."""
        return name_key(self.loaded.crl.issuer)

    @property
    def akid(self) -> x509.AuthorityKeyIdentifier | None:
        """The CRL's authorityKeyIdentifier, if any."""
        try:
            ext = self.loaded.crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except (x509.ExtensionNotFound, ValueError):
            return None
        return ext.value

    @property
    def label(self) -> str:
        """How findings name this CRL."""
        return f"CRL {self.loaded.source}"


def _signer(crl: x509.CertificateRevocationList, cas: CaIndex) -> tuple[int | None, list[str]]:
    candidates = cas.by_subject.get(name_key(crl.issuer), ())
    if not candidates:
        return None, [f"its issuer {crl.issuer.rfc4514_string()} is not a CA in the trust store"]
    for index in candidates:
        ca = cas.certificates[index]
        if not crl_signature_valid(crl, ca):
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


def past_next_update(crl: x509.CertificateRevocationList, at: datetime, limits: AlbLimits) -> bool:
    """At or past nextUpdate (at it only when ``crl_next_update_inclusive`` is off)."""
    next_update = crl.next_update_utc
    if not limits.crl_check_next_update or next_update is None:
        return False
    return next_update < at or (next_update == at and not limits.crl_next_update_inclusive)


def timely(status: CrlStatus, at: datetime, limits: AlbLimits) -> bool:
    """Inside lastUpdate..nextUpdate at ``at`` (OpenSSL's CRL_SCORE_TIME)."""
    crl = status.loaded.crl
    return crl.last_update_utc <= at and not past_next_update(crl, at, limits)


def _time_problems(status: CrlStatus, at: datetime, limits: AlbLimits) -> list[str]:
    crl = status.loaded.crl
    problems = []
    if crl.last_update_utc > at:
        problems.append(f"it is not valid before {format_time(crl.last_update_utc)}")
    if past_next_update(crl, at, limits):
        assert crl.next_update_utc is not None
        problems.append(f"it is past its nextUpdate ({format_time(crl.next_update_utc)})")
    return problems


def usable_problems(status: CrlStatus, at: datetime, limits: AlbLimits) -> list[str]:
    """Why ``status`` cannot be used at ``at``, judged against the bundle alone (no path)."""
    return list(status.problems) + _time_problems(status, at, limits)


def choose(
    statuses: Sequence[CrlStatus], issuer: x509.Certificate, at: datetime, limits: AlbLimits
) -> tuple[CrlStatus, ...]:
    """The CRLs of one issuer that count for a certificate it issued.

    Only CRLs whose authority key identifier fits ``issuer`` are candidates (OpenSSL's
    crl_akid_check). With ``crl_selection="newest"``, OpenSSL's get_crl_sk: timely CRLs
    beat stale ones, then the newest lastUpdate wins (the first of equals); its signature
    is not looked at while choosing.
    """
    fitting = [s for s in statuses if akid_matches(issuer, s.akid)]
    if limits.crl_selection == "all" or len(fitting) < 2:
        return tuple(fitting)
    best = fitting[0]
    best_rank = (timely(best, at, limits), best.loaded.crl.last_update_utc)
    for status in fitting[1:]:
        rank = (timely(status, at, limits), status.loaded.crl.last_update_utc)
        if rank > best_rank:
            best, best_rank = status, rank
    return (best,)


def path_problems(
    status: CrlStatus,
    issuer: PathLink,
    at: datetime,
    limits: AlbLimits,
    verified: dict[tuple[int, bytes], bool],
) -> list[str]:
    """Why ``status`` cannot be used for a certificate that ``issuer`` (on the path) issued.

    ``verified`` caches signature checks per (CRL, issuer) across calls: a CRL may be large.
    """
    problems = []
    if not status.loaded.was_pem:
        problems.append("it is DER; the ALB accepts PEM CRLs only")
    if limits.crl_issuer_in_bundle and issuer.source != "trust_store":
        problems.append(f"its issuer ({label(issuer)}) is not a CA in the trust store")
    usage = _key_usage(issuer.certificate)
    if usage is not None and not usage.crl_sign:
        problems.append(f"its issuer ({label(issuer)}) has no cRLSign keyUsage")
    problems += _time_problems(status, at, limits)
    cache_key = (id(status), issuer.certificate.fingerprint(_SHA256))
    if cache_key not in verified:
        verified[cache_key] = crl_signature_valid(status.loaded.crl, issuer.certificate)
    if not verified[cache_key]:
        problems.append(f"its signature does not verify with the key of {label(issuer)}")
    return problems


def index_by_issuer(statuses: Sequence[CrlStatus]) -> dict[bytes, tuple[CrlStatus, ...]]:
    """CRLs grouped by canonical issuer name, for a quick look-up per certificate."""
    grouped: dict[bytes, list[CrlStatus]] = {}
    for status in statuses:
        grouped.setdefault(status.issuer_key, []).append(status)
    return {key: tuple(value) for key, value in grouped.items()}
