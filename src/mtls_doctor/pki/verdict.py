"""Predict the ALB's ``tls_verify_status`` for a client chain: the engine behind ``cert check``.

:func:`check_chain` runs every check of the table below and keeps *all* findings; the verdict
is the first code of :attr:`AlbLimits.precedence` with an error finding (see limits.py for why
that order, and for every UNCONFIRMED assumption).

=================================  ==========================================================
ClientCertMaxSizeExceeded          a certificate over ``max_certificate_bytes``, or the TLS
                                   Certificate message over ``max_tls_message_bytes``
ClientCertMaxChainDepthExceeded    more than ``max_chain_depth`` certificates, counted as
                                   ``chain_depth_counts`` says
ClientCertInvalid                  a certificate that does not parse
ClientCertTypeUnsupported          not v3, key or signature outside spec §3.2
ClientCertUntrusted                no path to a trust-store CA (policy + signatures checked)
ClientCertPurposeInvalid           EKU without clientAuth (and the keyUsage rules)
ClientCertCrlHit                   serial revoked by a usable CRL of a CA on the path
ClientCertCrlProcessingError       a CRL for a CA on the path that cannot be used
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
    format_serial,
    format_time,
)
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl, load_certificates, load_crls
from mtls_doctor.pki.path import CaIndex, PathLink, build_path


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

    def __post_init__(self) -> None:
        cas = CaIndex(tuple(self.ca_certificates))
        statuses = crl_mod.prepare_crls(self.crls, cas)
        object.__setattr__(self, "cas", cas)
        object.__setattr__(self, "crl_statuses", statuses)
        object.__setattr__(self, "crls_by_issuer", crl_mod.index_by_issuer(statuses))

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


def _where(link: PathLink) -> int | str:
    if link.source == "chain":
        return link.index
    return f"trust store #{link.index} {link.certificate.subject.rfc4514_string()}"


def _message_size(chain: Sequence[bytes]) -> int:
    # TLS 1.3 Certificate message: 4-byte handshake header, 1-byte context, 3-byte list
    # length, then per certificate a 3-byte length and 2 bytes of (empty) extensions.
    # TLS 1.2 is 2 bytes per certificate smaller; we take the larger.
    return 4 + 1 + 3 + sum(len(der) + 5 for der in chain)


def _size_findings(chain: Sequence[bytes], limits: AlbLimits) -> list[Finding]:
    code = "ClientCertMaxSizeExceeded"
    found = [
        alb_finding(
            code,
            i,
            f"certificate {i} is {len(der)} bytes; the limit is {limits.max_certificate_bytes}",
        )
        for i, der in enumerate(chain)
        if len(der) > limits.max_certificate_bytes
    ]
    size = _message_size(chain)
    if size > limits.max_tls_message_bytes:
        found.append(
            alb_finding(
                code,
                None,
                f"the chain makes a {size}-byte TLS Certificate "
                f"message; the limit is {limits.max_tls_message_bytes}",
            )
        )
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


def _depth_finding(
    certs: Sequence[x509.Certificate | None], path: tuple[PathLink, ...], limits: AlbLimits
) -> list[Finding]:
    mode = limits.chain_depth_counts
    if mode == "presented" or not path:
        depth, what = len(certs), "certificates sent by the client"
    elif mode == "path_with_anchor":
        depth, what = len(path), "certificates on the path, leaf and trust anchor included"
    else:
        depth, what = len(path) - 1, "certificates on the path below the trust anchor"
    if depth <= limits.max_chain_depth:
        return []
    return [
        alb_finding(
            "ClientCertMaxChainDepthExceeded",
            None,
            f"{depth} {what}; the limit is {limits.max_chain_depth}",
        )
    ]


def _validity_findings(
    targets: Sequence[tuple[int | str, x509.Certificate, bool]],
    at: datetime,
    ignore_expiry: bool,
    limits: AlbLimits,
) -> list[Finding]:
    found = []
    for where, cert, is_leaf in targets:
        waivable = ignore_expiry and (is_leaf or limits.ignore_expiry_covers_chain)
        if cert.not_valid_before_utc > at:
            waived = waivable and limits.ignore_expiry_covers_not_yet_valid
            text = f"not valid before {format_time(cert.not_valid_before_utc)}"
            found.append(_timed("ClientCertNotYetValid", where, text, at, waived))
        if cert.not_valid_after_utc < at:
            text = f"expired at {format_time(cert.not_valid_after_utc)}"
            found.append(_timed("ClientCertExpired", where, text, at, waivable))
    return found


def _timed(code: str, where: int | str, text: str, at: datetime, waived: bool) -> Finding:
    message = f"{_name(where)} is {text} (checked at {format_time(at)})"
    if waived:
        message += "; waived by IgnoreClientCertificateExpiry"
    return alb_finding(code, where, message, "info" if waived else "error")


def _name(where: int | str | None) -> str:
    return f"certificate {where}" if isinstance(where, int) else str(where)


def _purpose_findings(path: tuple[PathLink, ...], limits: AlbLimits) -> list[Finding]:
    found = []
    for position, link in enumerate(path):
        problems = (
            policy.leaf_purpose_problems(link.certificate, limits)
            if position == 0
            else policy.ca_purpose_problems(link.certificate, limits)
        )
        where = _where(link)
        found += [
            alb_finding("ClientCertPurposeInvalid", where, f"{_name(where)} {p}") for p in problems
        ]
    return found


def _crl_findings(
    path: tuple[PathLink, ...], store: TrustStore, at: datetime, limits: AlbLimits
) -> list[Finding]:
    found: list[Finding] = []
    used: set[int] = set()
    checked = path[:-1] if limits.crl_check_intermediates else path[:1]
    for position, link in enumerate(checked):
        cert = link.certificate
        for status in store.crls_by_issuer.get(cert.issuer.public_bytes(), ()):
            used.add(id(status))
            problems = crl_mod.usable_problems(status, at, limits)
            where = _where(link)
            if problems:
                text = f"{status.label}, which covers {_name(where)}, cannot be used: "
                found.append(
                    alb_finding(
                        "ClientCertCrlProcessingError", status.label, text + "; ".join(problems)
                    )
                )
            elif _signed_by_issuer(status, path[position + 1]) and (
                cert.serial_number in status.revoked
            ):
                found.append(
                    alb_finding(
                        "ClientCertCrlHit",
                        where,
                        f"{_name(where)} (serial {format_serial(cert.serial_number)}) is revoked "
                        f"by {status.label}",
                    )
                )
    for status in store.crl_statuses:
        problems = crl_mod.usable_problems(status, at, limits)
        if id(status) not in used and problems:
            found.append(
                alb_finding(
                    "ClientCertCrlProcessingError",
                    status.label,
                    f"{status.label} cannot be used: "
                    + "; ".join(problems)
                    + " (it does not cover this chain)",
                    "warning",
                )
            )
    return found


def _signed_by_issuer(status: crl_mod.CrlStatus, issuer: PathLink) -> bool:
    return issuer.source == "trust_store" and status.signer_index == issuer.index


def _decide(findings: Sequence[Finding], limits: AlbLimits) -> str:
    codes = {f.code for f in findings if f.severity == "error"}
    for code in limits.precedence:
        if code in codes:
            return code
    return next(iter(sorted(codes)), SUCCESS)


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
    findings = _size_findings(chain, limits)
    if not chain:
        findings.append(
            alb_finding(limits.empty_chain_code, None, "the client sent no certificate")
        )
    parsed = [_parse(der) for der in chain]
    certs = [c if isinstance(c, x509.Certificate) else None for c in parsed]
    for index, item in enumerate(parsed):
        if isinstance(item, str):
            findings.append(
                alb_finding(
                    "ClientCertInvalid", index, f"certificate {index} is not valid X.509: {item}"
                )
            )
        else:
            findings += [
                alb_finding("ClientCertTypeUnsupported", index, f"certificate {index} {p}")
                for p in policy.type_problems(item, limits)
            ]
    path: tuple[PathLink, ...] = ()
    if certs and certs[0] is not None:
        result = build_path(certs[0], certs, trust_store.cas, limits)
        path = result.links or ()
        if result.links is None:
            findings.append(
                alb_finding(
                    "ClientCertUntrusted",
                    0,
                    "no path from the leaf to a trust-store CA: " + "; ".join(result.dead_ends),
                )
            )
    findings += _depth_finding(certs, path, limits)
    findings += _purpose_findings(path, limits)
    findings += _crl_findings(path, trust_store, at, limits)
    targets: list[tuple[int | str, x509.Certificate, bool]] = (
        [(_where(link), link.certificate, i == 0) for i, link in enumerate(path)]
        if path
        else [(i, c, i == 0) for i, c in enumerate(certs) if c is not None]
    )
    findings += _validity_findings(targets, at, ignore_expiry, limits)
    indexed = [(i, c, d) for i, (c, d) in enumerate(zip(certs, chain, strict=True)) if c]
    summaries = describe_chain([c for _, c, _ in indexed], [d for _, _, d in indexed])
    summaries = tuple(_reindex(s, [i for i, _, _ in indexed]) for s in summaries)
    ordered = sorted(findings, key=lambda f: _rank(f, limits))
    return ChainVerdict(
        _decide(findings, limits), tuple(ordered), summaries, path, at, ignore_expiry, limits
    )


def _rank(finding: Finding, limits: AlbLimits) -> tuple[int, int]:
    order = {"error": 0, "warning": 1, "info": 2}[finding.severity]
    code = (
        limits.precedence.index(finding.code)
        if finding.code in limits.precedence
        else len(limits.precedence)
    )
    return (order, code)


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
