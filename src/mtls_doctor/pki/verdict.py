"""Predict the ALB's ``tls_verify_status`` for a client chain: the engine behind ``cert check``.

:func:`check_chain` runs every check of the table below and keeps *all* findings; the verdict
is the first error in the order an OpenSSL-family verifier meets it (``check_order``; see
limits.py for that order and for every UNCONFIRMED assumption). The ordering key of each
finding is kept beside it (``_Ranked``) and never shown.

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
    format_serial,
    format_time,
)
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl, load_certificates, load_crls
from mtls_doctor.pki.names import name_key, self_issued
from mtls_doctor.pki.path import CaIndex, PathLink, build_path, label
from mtls_doctor.pki.signing import signature_valid

UNTRUSTED = "ClientCertUntrusted"
PURPOSE = "ClientCertPurposeInvalid"
CRL_ERROR = "ClientCertCrlProcessingError"
CRL_HIT = "ClientCertCrlHit"


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


_Ranked = tuple[tuple[int, ...], Finding]
# Phases of OpenSSL's X509_verify_cert, the first element of every ordering key.
_ALB, _BUILD, _EXTENSIONS, _REVOCATION, _VERIFY, _NO_PATH, _UNRELATED = range(7)


def _where(link: PathLink) -> int | str:
    if link.source == "chain":
        return link.index
    return f"trust store #{link.index} {link.certificate.subject.rfc4514_string()}"


def _alb_key(code: str, limits: AlbLimits, index: int = 0) -> tuple[int, ...]:
    position = limits.precedence.index(code) if code in limits.precedence else 99
    return (_ALB, position, index)


def _message_size(chain: Sequence[bytes]) -> int:
    # TLS 1.3 Certificate message: 4-byte handshake header, 1-byte context, 3-byte list
    # length, then per certificate a 3-byte length and 2 bytes of (empty) extensions.
    # TLS 1.2 is 2 bytes per certificate smaller; we take the larger.
    return 4 + 1 + 3 + sum(len(der) + 5 for der in chain)


def _size_findings(chain: Sequence[bytes], limits: AlbLimits) -> list[_Ranked]:
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


def _parse_findings(parsed: Sequence[x509.Certificate | str], limits: AlbLimits) -> list[_Ranked]:
    found: list[_Ranked] = []
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
) -> list[_Ranked]:
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


def _expired(cert: x509.Certificate, at: datetime, limits: AlbLimits) -> bool:
    after = cert.not_valid_after_utc
    return after < at or (after == at and not limits.not_after_inclusive)


def _validity_findings(
    key: tuple[int, ...],
    where: int | str,
    cert: x509.Certificate,
    is_leaf: bool,
    context: _Context,
) -> list[_Ranked]:
    """notBefore, then notAfter (OpenSSL's ossl_x509_check_cert_time)."""
    limits, at = context.limits, context.at
    waivable = context.ignore_expiry and (is_leaf or limits.ignore_expiry_covers_chain)
    found = []
    if cert.not_valid_before_utc > at:
        waived = waivable and limits.ignore_expiry_covers_not_yet_valid
        text = f"not valid before {format_time(cert.not_valid_before_utc)}"
        found.append(((*key, 2), _timed("ClientCertNotYetValid", where, text, at, waived)))
    if _expired(cert, at, limits):
        text = f"expired at {format_time(cert.not_valid_after_utc)}"
        found.append(((*key, 3), _timed("ClientCertExpired", where, text, at, waivable)))
    return found


def _timed(code: str, where: int | str, text: str, at: datetime, waived: bool) -> Finding:
    message = f"{_name(where)} is {text} (checked at {format_time(at)})"
    if waived:
        message += "; waived by IgnoreClientCertificateExpiry"
    return alb_finding(code, where, message, "info" if waived else "error")


def _name(where: int | str | None) -> str:
    return f"certificate {where}" if isinstance(where, int) else str(where)


@dataclass(frozen=True)
class _Context:
    store: TrustStore
    at: datetime  # whole seconds, as OpenSSL compares times
    ignore_expiry: bool
    limits: AlbLimits


def _extension_findings(path: tuple[PathLink, ...], limits: AlbLimits) -> list[_Ranked]:
    """OpenSSL's check_extensions, leaf first: CA flag, purpose, pathLen of each."""
    found: list[_Ranked] = []
    below = 0  # CAs below the current one that are not self-issued
    for position, link in enumerate(path):
        cert, where = link.certificate, _where(link)
        if position:
            anchor = position == len(path) - 1
            found += [
                (
                    (_EXTENSIONS, position, 0),
                    alb_finding(
                        UNTRUSTED,
                        where,
                        f"{label(link)} {p}, so it cannot sign {label(path[position - 1])}",
                    ),
                )
                for p in policy.ca_problems(cert, anchor, limits)
            ]
        problems = (
            policy.leaf_purpose_problems(cert, limits)
            if position == 0
            else policy.ca_purpose_problems(cert, limits)
        )
        found += [
            ((_EXTENSIONS, position, 1), alb_finding(PURPOSE, where, f"{_name(where)} {p}"))
            for p in problems
        ]
        limit = policy.path_length(cert)
        if position > 1 and limit is not None and below > limit:
            text = f"{label(link)} allows {limit} CA(s) below it (pathLen); the path has {below}"
            found.append(((_EXTENSIONS, position, 2), alb_finding(UNTRUSTED, where, text)))
        if position and not self_issued(cert):
            below += 1
    return found


def _crl_findings(path: tuple[PathLink, ...], context: _Context) -> list[_Ranked]:
    """OpenSSL's check_revocation, leaf first: the CRL that counts must be usable, then the
    serial must not be on it. Broken CRLs that cover nothing here are warnings."""
    store, limits, at = context.store, context.limits, context.at
    found: list[_Ranked] = []
    used: set[int] = set()
    reported: set[int] = set()
    checked = path if limits.crl_check_intermediates else path[:1]
    for position, link in enumerate(checked):
        cert, where = link.certificate, _where(link)
        statuses = store.crls_by_issuer.get(name_key(cert.issuer), ())
        issuer = path[position + 1] if position + 1 < len(path) else link
        if not statuses or (issuer is link and not self_issued(cert)):
            continue
        used.update(id(s) for s in statuses)
        chosen = crl_mod.choose(statuses, issuer.certificate, at, limits)
        if not chosen:
            text = (
                f"no CRL of {cert.issuer.rfc4514_string()}, which covers {_name(where)}, has "
                f"an authority key identifier that fits {label(issuer)}"
            )
            found.append(((_REVOCATION, position, 0), alb_finding(CRL_ERROR, where, text)))
        for status in chosen:
            problems = crl_mod.path_problems(status, issuer, at, limits, store.crl_signatures)
            if problems and id(status) not in reported:
                reported.add(id(status))
                text = f"{status.label}, which covers {_name(where)}, cannot be used: "
                finding = alb_finding(CRL_ERROR, status.label, text + "; ".join(problems))
                found.append(((_REVOCATION, position, 0), finding))
            elif not problems and cert.serial_number in status.revoked:
                text = (
                    f"{_name(where)} (serial {format_serial(cert.serial_number)}) is revoked "
                    f"by {status.label}"
                )
                found.append(((_REVOCATION, position, 1), alb_finding(CRL_HIT, where, text)))
    for status in store.crl_statuses:
        problems = crl_mod.usable_problems(status, at, limits)
        if id(status) not in used and problems:
            text = f"{status.label} cannot be used: " + "; ".join(problems)
            finding = alb_finding(
                CRL_ERROR, status.label, text + " (it does not cover this chain)", "warning"
            )
            found.append(((_UNRELATED,), finding))
    return found


def _verify_findings(path: tuple[PathLink, ...], context: _Context) -> list[_Ranked]:
    """OpenSSL's internal_verify, from the anchor down: signature, then validity times.

    The anchor's own signature is not checked (OpenSSL skips self-signatures)."""
    found: list[_Ranked] = []
    for position in reversed(range(len(path))):
        link = path[position]
        key = (_VERIFY, len(path) - position)
        if position + 1 < len(path):
            issuer = path[position + 1]
            if not signature_valid(link.certificate, issuer.certificate):
                text = (
                    f"the signature of {label(link)} does not verify with the key of "
                    f"{label(issuer)}"
                )
                found.append(((*key, 1), alb_finding(UNTRUSTED, _where(link), text)))
        found += _validity_findings(key, _where(link), link.certificate, position == 0, context)
    return found


def _decide(ranked: Sequence[_Ranked], limits: AlbLimits) -> str:
    errors = [(key, f) for key, f in ranked if f.severity == "error"]
    if not errors:
        return SUCCESS
    return min(errors, key=lambda item: _order(item, limits))[1].code


def _order(item: _Ranked, limits: AlbLimits) -> tuple[Any, ...]:
    key, finding = item
    if limits.check_order == "precedence":
        code = finding.code
        position = limits.precedence.index(code) if code in limits.precedence else 99
        return (position, key)
    return key


def _path_findings(
    certs: Sequence[x509.Certificate | None], context: _Context
) -> tuple[tuple[PathLink, ...], list[_Ranked]]:
    if not certs or certs[0] is None:
        return (), []
    result = build_path(certs[0], certs, context.store.cas, context.limits, context.at)
    if result.links is None:
        text = "no path from the leaf to a trust-store CA: " + "; ".join(result.dead_ends)
        return (), [((_BUILD, 0), alb_finding(UNTRUSTED, 0, text))]
    path = result.links
    return path, (
        _extension_findings(path, context.limits)
        + _crl_findings(path, context)
        + _verify_findings(path, context)
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
    context = _Context(trust_store, at.replace(microsecond=0), ignore_expiry, limits)
    ranked = _size_findings(chain, limits)
    if not chain:
        code = limits.empty_chain_code
        empty = alb_finding(code, None, "the client sent no certificate")
        ranked.append((_alb_key(code, limits), empty))
    parsed = [_parse(der) for der in chain]
    certs = [c if isinstance(c, x509.Certificate) else None for c in parsed]
    ranked += _parse_findings(parsed, limits)
    path, found = _path_findings(certs, context)
    ranked += found
    ranked += _depth_finding(certs, path, limits)
    if not path:  # still say what else is wrong with what was sent
        for i, cert in enumerate(certs):
            if cert is not None:
                ranked += _validity_findings((_NO_PATH, i), i, cert, i == 0, context)
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
