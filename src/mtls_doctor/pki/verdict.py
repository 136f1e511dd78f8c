"""Predict the ALB's ``tls_verify_status`` for a client chain: the engine behind ``cert check``.

:func:`check_chain` runs every check of the table below and keeps *all* findings; the verdict
is the first error in the order an OpenSSL-family verifier meets it (``check_order``; see
limits.py for that order and for every UNCONFIRMED assumption). The ordering key of each
finding is kept beside it (``Ranked``) and never shown.

=================================  ==========================================================
ClientCertMaxSizeExceeded          a certificate over ``max_certificate_bytes``, or the TLS
                                   Certificate message over ``max_tls_message_bytes``
ClientCertMaxChainDepthExceeded    more than ``max_chain_depth`` certificates, counted as
                                   ``chain_depth_counts`` says
ClientCertInvalid                  a certificate that does not parse
ClientCertTypeUnsupported          not v3, key or signature outside spec §3.2
ClientCertUntrusted                no path to a trust-store CA (path.py), a CA that may not
                                   sign (CA flag, keyCertSign, pathLen), a bad signature
ClientCertPurposeInvalid           EKU without clientAuth (and the keyUsage rules)
ClientCertCrlHit                   serial revoked by the CRL that counts (crl.choose)
ClientCertCrlProcessingError       the CRL that counts for a certificate cannot be used
ClientCertNotYetValid / Expired    outside notBefore/notAfter at ``at``
=================================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.knowledge.codes import SUCCESS
from mtls_doctor.pki import crl as crl_mod
from mtls_doctor.pki import policy
from mtls_doctor.pki.findings import Finding, alb_finding
from mtls_doctor.pki.inspect import (
    CertificateSummary,
    describe_chain,
    format_time,
)
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl, load_certificates, load_crls
from mtls_doctor.pki.path import CaIndex, PathLink, build_path
from mtls_doctor.pki.pathchecks import (
    ALB,
    BUILD,
    NO_PATH,
    UNTRUSTED,
    Context,
    Ranked,
    crl_findings,
    extension_findings,
    validity_findings,
    verify_findings,
)


@dataclass(frozen=True)
class TrustStore:
    """The CA bundle and CRLs of a trust store, indexed once for fast repeated checks."""

    ca_certificates: tuple[x509.Certificate, ...]
    crls: tuple[LoadedCrl, ...] = ()
    warnings: tuple[str, ...] = ()
    cas: CaIndex = field(init=False, repr=False, compare=False)
    crl_statuses: tuple[crl_mod.CrlStatus, ...] = field(init=False, repr=False, compare=False)
    crls_by_issuer: dict[bytes, tuple[crl_mod.CrlStatus, ...]] = field(
        init=False, repr=False, compare=False
    )
    # (CRL, issuer) -> signature verifies; filled as chains are checked (a CRL may be large)
    crl_signatures: dict[tuple[int, bytes], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cas = CaIndex(tuple(self.ca_certificates))
        statuses = crl_mod.prepare_crls(self.crls, cas)
        object.__setattr__(self, "cas", cas)
        object.__setattr__(self, "crl_statuses", statuses)
        object.__setattr__(self, "crls_by_issuer", crl_mod.index_by_issuer(statuses))
        object.__setattr__(self, "crl_signatures", {})

    @classmethod
    def from_files(cls, bundle: Path, crl_paths: Sequence[Path] = ()) -> TrustStore:
        """Load a PEM/DER/PKCS#7 CA bundle and CRL files (raises CertificateLoadError)."""
        loaded = load_certificates(bundle)
        crls: list[LoadedCrl] = []
        warnings = list(loaded.warnings)
        for path in crl_paths:
            loaded_crls = load_crls(path)
            crls.extend(loaded_crls.crls)
            warnings.extend(loaded_crls.warnings)
        return cls(loaded.certificates, tuple(crls), tuple(warnings))


@dataclass(frozen=True)
class ChainVerdict:
    """The predicted ``tls_verify_status`` code, every finding, the chain and the path."""

    verdict: str
    findings: tuple[Finding, ...]
    chain: tuple[CertificateSummary, ...]
    path: tuple[PathLink, ...]
    at: datetime
    ignore_expiry: bool
    limits: AlbLimits

    @property
    def ok(self) -> bool:
        """True when the ALB would accept the chain."""
        return self.verdict == SUCCESS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (shape documented in docs/certificates.md)."""
        return {
            "schema_version": 1,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "chain": [c.to_dict() for c in self.chain],
            "path": [link.to_dict() for link in self.path],
            "at": format_time(self.at),
            "ignore_expiry": self.ignore_expiry,
            "limits": self.limits.to_dict(),
        }


def _alb_key(code: str, limits: AlbLimits, index: int = 0) -> tuple[int, ...]:
    position = limits.precedence.index(code) if code in limits.precedence else 99
    return (ALB, position, index)


def _message_size(chain: Sequence[bytes]) -> int:
    # TLS 1.3 Certificate message: 4-byte handshake header, 1-byte context, 3-byte list
    # length, then per certificate a 3-byte length and 2 bytes of (empty) extensions.
    # TLS 1.2 is 2 bytes per certificate smaller; we take the larger.
    return 4 + 1 + 3 + sum(len(der) + 5 for der in chain)


def _size_findings(chain: Sequence[bytes], limits: AlbLimits) -> list[Ranked]:
    code = "ClientCertMaxSizeExceeded"
    key = _alb_key(code, limits)
    found = [
        (
            key,
            alb_finding(
                code,
                i,
                f"certificate {i} is {len(der)} bytes; the limit is {limits.max_certificate_bytes}",
            ),
        )
        for i, der in enumerate(chain)
        if len(der) > limits.max_certificate_bytes
    ]
    size = _message_size(chain)
    if size > limits.max_tls_message_bytes:
        text = (
            f"the chain makes a {size}-byte TLS Certificate message; the limit is "
            f"{limits.max_tls_message_bytes}"
        )
        found.append((key, alb_finding(code, None, text)))
    return found


def _parse(der: bytes) -> x509.Certificate | str:
    """The certificate, or why it is not valid X.509 (touching the lazily parsed parts)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (cert.version, cert.subject, cert.issuer, cert.extensions)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_algorithm_oid)
    except (ValueError, x509.InvalidVersion) as error:
        return str(error) or type(error).__name__
    return cert


def _parse_findings(parsed: Sequence[x509.Certificate | str], limits: AlbLimits) -> list[Ranked]:
    found: list[Ranked] = []
    for index, item in enumerate(parsed):
        if isinstance(item, str):
            code, texts = "ClientCertInvalid", [f"is not valid X.509: {item}"]
        else:
            code, texts = "ClientCertTypeUnsupported", policy.type_problems(item, limits)
        found += [
            (_alb_key(code, limits, index), alb_finding(code, index, f"certificate {index} {t}"))
            for t in texts
        ]
    return found


def _depth_finding(
    certs: Sequence[x509.Certificate | None], path: tuple[PathLink, ...], limits: AlbLimits
) -> list[Ranked]:
    mode = limits.chain_depth_counts
    if mode == "presented" or not path:
        depth, what = len(certs), "certificates sent by the client"
    elif mode == "path_with_anchor":
        depth, what = len(path), "certificates on the path, leaf and trust anchor included"
    else:
        depth, what = len(path) - 1, "certificates on the path below the trust anchor"
    if depth <= limits.max_chain_depth:
        return []
    code = "ClientCertMaxChainDepthExceeded"
    text = f"{depth} {what}; the limit is {limits.max_chain_depth}"
    return [(_alb_key(code, limits), alb_finding(code, None, text))]


def _decide(ranked: Sequence[Ranked], limits: AlbLimits) -> str:
    errors = [(key, f) for key, f in ranked if f.severity == "error"]
    if not errors:
        return SUCCESS
    return min(errors, key=lambda item: _order(item, limits))[1].code


def _order(item: Ranked, limits: AlbLimits) -> tuple[Any, ...]:
    key, finding = item
    if limits.check_order == "precedence":
        code = finding.code
        position = limits.precedence.index(code) if code in limits.precedence else 99
        return (position, key)
    return key


def _path_findings(
    certs: Sequence[x509.Certificate | None], context: Context, cas: CaIndex
) -> tuple[tuple[PathLink, ...], list[Ranked]]:
    if not certs or certs[0] is None:
        return (), []
    result = build_path(certs[0], certs, cas, context.limits, context.at)
    if result.links is None:
        text = "no path from the leaf to a trust-store CA: " + "; ".join(result.dead_ends)
        return (), [((BUILD, 0), alb_finding(UNTRUSTED, 0, text))]
    path = result.links
    return path, (
        extension_findings(path, context.limits)
        + crl_findings(path, context)
        + verify_findings(path, context)
    )


def check_chain(
    chain: Sequence[bytes],
    trust_store: TrustStore,
    *,
    at: datetime,
    ignore_expiry: bool = False,
    limits: AlbLimits = AlbLimits(),
) -> ChainVerdict:
    """Predict the ALB's verdict for the DER certificates a client sent, leaf first.

    An empty ``chain`` (the client sent no certificate) gives ``limits.empty_chain_code``:
    no code is documented for it, and a verifier with nothing to chain reports "untrusted".
    """
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    context = Context(
        trust_store.crls_by_issuer,
        trust_store.crl_statuses,
        trust_store.crl_signatures,
        at.replace(microsecond=0),
        ignore_expiry,
        limits,
    )
    ranked = _size_findings(chain, limits)
    if not chain:
        code = limits.empty_chain_code
        empty = alb_finding(code, None, "the client sent no certificate")
        ranked.append((_alb_key(code, limits), empty))
    parsed = [_parse(der) for der in chain]
    certs = [c if isinstance(c, x509.Certificate) else None for c in parsed]
    ranked += _parse_findings(parsed, limits)
    path, found = _path_findings(certs, context, trust_store.cas)
    ranked += found
    ranked += _depth_finding(certs, path, limits)
    if not path:  # still say what else is wrong with what was sent
        for i, cert in enumerate(certs):
            if cert is not None:
                ranked += validity_findings((NO_PATH, i), i, cert, i == 0, context)
    indexed = [(i, c, d) for i, (c, d) in enumerate(zip(certs, chain, strict=True)) if c]
    summaries = describe_chain([c for _, c, _ in indexed], [d for _, _, d in indexed])
    summaries = tuple(_reindex(s, [i for i, _, _ in indexed]) for s in summaries)
    severity = {"error": 0, "warning": 1, "info": 2}
    ordered = sorted(ranked, key=lambda item: (severity[item[1].severity], _order(item, limits)))
    return ChainVerdict(
        _decide(ranked, limits),
        tuple(f for _, f in ordered),
        summaries,
        path,
        at,
        ignore_expiry,
        limits,
    )


def _reindex(summary: CertificateSummary, original: list[int]) -> CertificateSummary:
    signed_by = original[summary.signed_by] if summary.signed_by is not None else None
    return replace(summary, index=original[summary.index], signed_by=signed_by)


def check_chain_certificates(
    certs: Sequence[x509.Certificate],
    trust_store: TrustStore,
    *,
    at: datetime,
    ignore_expiry: bool = False,
    limits: AlbLimits = AlbLimits(),
) -> ChainVerdict:
    """:func:`check_chain` for parsed certificates (sizes use their DER encoding)."""
    ders = [c.public_bytes(Encoding.DER) for c in certs]
    return check_chain(ders, trust_store, at=at, ignore_expiry=ignore_expiry, limits=limits)
