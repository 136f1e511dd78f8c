"""The checks OpenSSL runs once a path is built, each finding with its place in that order.

``check_extensions`` (CA flag, purpose, pathLen; leaf first), ``check_revocation`` (the CRL
that counts must be usable, then the serial must not be on it; leaf first) and
``internal_verify`` (signature, then validity times; from the anchor down). A finding is
returned with its ordering key (:data:`Ranked`): the verdict is the error with the smallest
key (verdict.py), which is the first error OpenSSL would meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from mtls_doctor.pki import crl as crl_mod
from mtls_doctor.pki import policy
from mtls_doctor.pki.findings import Finding, alb_finding
from mtls_doctor.pki.inspect import format_serial, format_time
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.names import name_key, self_issued
from mtls_doctor.pki.path import PathLink, label
from mtls_doctor.pki.signing import signature_valid

UNTRUSTED = "ClientCertUntrusted"
PURPOSE = "ClientCertPurposeInvalid"
CRL_ERROR = "ClientCertCrlProcessingError"
CRL_HIT = "ClientCertCrlHit"

Ranked = tuple[tuple[int, ...], Finding]
# Phases of OpenSSL's X509_verify_cert, the first element of every ordering key.
ALB, BUILD, EXTENSIONS, REVOCATION, VERIFY, NO_PATH, UNRELATED = range(7)


def location(link: PathLink) -> int | str:
    """How a finding names a certificate of the path: its index in the chain, or its place
    in the trust store."""
    if link.source == "chain":
        return link.index
    return f"trust store #{link.index} {link.certificate.subject.rfc4514_string()}"


@dataclass(frozen=True)
class Context:
    """What the checks need besides the path: the trust store's CRLs, the time, settings."""

    crls_by_issuer: dict[bytes, tuple[crl_mod.CrlStatus, ...]]
    crl_statuses: tuple[crl_mod.CrlStatus, ...]
    crl_signatures: dict[tuple[int, bytes], bool]
    at: datetime  # whole seconds, as OpenSSL compares times
    ignore_expiry: bool
    limits: AlbLimits


def _expired(cert: x509.Certificate, at: datetime, limits: AlbLimits) -> bool:
    after = cert.not_valid_after_utc
    return after < at or (after == at and not limits.not_after_inclusive)


def validity_findings(
    key: tuple[int, ...],
    where: int | str,
    cert: x509.Certificate,
    is_leaf: bool,
    context: Context,
) -> list[Ranked]:
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


def extension_findings(path: tuple[PathLink, ...], limits: AlbLimits) -> list[Ranked]:
    """OpenSSL's check_extensions, leaf first: CA flag, purpose, pathLen of each."""
    found: list[Ranked] = []
    below = 0  # CAs below the current one that are not self-issued
    for position, link in enumerate(path):
        cert, where = link.certificate, location(link)
        if position:
            anchor = position == len(path) - 1
            found += [
                (
                    (EXTENSIONS, position, 0),
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
            ((EXTENSIONS, position, 1), alb_finding(PURPOSE, where, f"{_name(where)} {p}"))
            for p in problems
        ]
        limit = policy.path_length(cert)
        if position > 1 and limit is not None and below > limit:
            text = f"{label(link)} allows {limit} CA(s) below it (pathLen); the path has {below}"
            found.append(((EXTENSIONS, position, 2), alb_finding(UNTRUSTED, where, text)))
        if position and not self_issued(cert):
            below += 1
    return found


def crl_findings(path: tuple[PathLink, ...], context: Context) -> list[Ranked]:
    """OpenSSL's check_revocation, leaf first: the CRL that counts must be usable, then the
    serial must not be on it. Broken CRLs that cover nothing here are warnings."""
    limits, at = context.limits, context.at
    found: list[Ranked] = []
    used: set[int] = set()
    reported: set[int] = set()
    checked = path if limits.crl_check_intermediates else path[:1]
    for position, link in enumerate(checked):
        cert, where = link.certificate, location(link)
        statuses = context.crls_by_issuer.get(name_key(cert.issuer), ())
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
            found.append(((REVOCATION, position, 0), alb_finding(CRL_ERROR, where, text)))
        for status in chosen:
            problems = crl_mod.path_problems(status, issuer, at, limits, context.crl_signatures)
            if problems and id(status) not in reported:
                reported.add(id(status))
                text = f"{status.label}, which covers {_name(where)}, cannot be used: "
                finding = alb_finding(CRL_ERROR, status.label, text + "; ".join(problems))
                found.append(((REVOCATION, position, 0), finding))
            elif not problems and cert.serial_number in status.revoked:
                text = (
                    f"{_name(where)} (serial {format_serial(cert.serial_number)}) is revoked "
                    f"by {status.label}"
                )
                found.append(((REVOCATION, position, 1), alb_finding(CRL_HIT, where, text)))
    for status in context.crl_statuses:
        problems = crl_mod.usable_problems(status, at, limits)
        if id(status) not in used and problems:
            text = f"{status.label} cannot be used: " + "; ".join(problems)
            finding = alb_finding(
                CRL_ERROR, status.label, text + " (it does not cover this chain)", "warning"
            )
            found.append(((UNRELATED,), finding))
    return found


def verify_findings(path: tuple[PathLink, ...], context: Context) -> list[Ranked]:
    """OpenSSL's internal_verify, from the anchor down: signature, then validity times.

    The anchor's own signature is not checked (OpenSSL skips self-signatures)."""
    found: list[Ranked] = []
    for position in reversed(range(len(path))):
        link = path[position]
        key = (VERIFY, len(path) - position)
        if position + 1 < len(path):
            issuer = path[position + 1]
            if not signature_valid(link.certificate, issuer.certificate):
                text = (
                    f"the signature of {label(link)} does not verify with the key of "
                    f"{label(issuer)}"
                )
                found.append(((*key, 1), alb_finding(UNTRUSTED, location(link), text)))
        found += validity_findings(key, location(link), link.certificate, position == 0, context)
    return found
