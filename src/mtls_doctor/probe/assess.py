"""Judging a probe: our chain against what we know of the server's trust store, the server's
name against its certificate, and whose side a failure is on."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from mtls_doctor.knowledge.codes import SUCCESS
from mtls_doctor.pki import policy
from mtls_doctor.pki.findings import Finding, alb_finding
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.verdict import TrustStore, check_chain
from mtls_doctor.probe.identity import ClientIdentity
from mtls_doctor.probe.model import ClientCheck, Conclusion, Ending, HttpAnswer, ServerVerification
from mtls_doctor.probe.tls import HandshakeLog

UNTRUSTED = "ClientCertUntrusted"


def hostname_problem(cert: x509.Certificate, name: str) -> str | None:
    """Why ``cert`` does not cover ``name`` (DNS or IP SANs; no CN fallback), or None."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return f"hostname mismatch: the server certificate has no subjectAltName for {name}"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        if address in sans.get_values_for_type(x509.IPAddress):
            return None
    elif any(_dns_match(pattern, name) for pattern in sans.get_values_for_type(x509.DNSName)):
        return None
    return f"hostname mismatch: the server certificate does not cover {name}"


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def matched_name(chain: Sequence[x509.Certificate], advertised: Sequence[x509.Name]) -> str | None:
    """The advertised CA name that one of our certificates is issued by (or is), if any.

    Compared as DER, as OpenSSL compares names when it picks a certificate."""
    wanted = {n.public_bytes(): n for n in advertised}
    for cert in chain:
        for name in (cert.issuer, cert.subject):
            if name.public_bytes() in wanted:
                return name.rfc4514_string()
    return None


def _decide(findings: Sequence[Finding], limits: AlbLimits) -> str:
    codes = {f.code for f in findings if f.severity == "error"}
    return next((c for c in limits.precedence if c in codes), min(codes, default=SUCCESS))


def check_client(
    identity: ClientIdentity | None,
    advertised: Sequence[x509.Name],
    store: TrustStore | None,
    now: datetime,
    ignore_expiry: bool,
) -> ClientCheck | None:
    """``cert check`` of our chain: against ``store`` when given, else by advertised names."""
    if identity is None:
        return None
    matched = matched_name(identity.chain, advertised)
    issuer_advertised = (matched is not None) if advertised else None
    if store is not None:
        verdict = check_chain(identity.ders, store, at=now, ignore_expiry=ignore_expiry)
        return ClientCheck(
            "trust_store", verdict.verdict, verdict.findings, issuer_advertised, matched, verdict
        )
    # Only names are known: every check runs except the path to an anchor, and trust is
    # judged by whether an issuer name of our chain is among the advertised ones.
    verdict = check_chain(identity.ders, TrustStore(()), at=now, ignore_expiry=ignore_expiry)
    findings = [f for f in verdict.findings if f.code != UNTRUSTED]
    findings += [
        alb_finding("ClientCertPurposeInvalid", 0, f"certificate 0 {problem}")
        for problem in policy.leaf_purpose_problems(identity.chain[0], verdict.limits)
    ]
    if advertised and matched is None:
        findings.insert(
            0,
            alb_finding(
                UNTRUSTED, 0, "no certificate of the chain is issued by a CA the server advertised"
            ),
        )
    basis = "advertised_names" if advertised else "none"
    code = _decide(findings, verdict.limits)
    return ClientCheck(basis, code, tuple(findings), issuer_advertised, matched, verdict)


def describe_ending(ending: Ending) -> str:
    """One phrase: how the connection ended, and in which phase."""
    phase = ending.phase.replace("_", " ")
    if ending.kind == "alert":
        who = "the server" if ending.alert_from == "server" else "us"
        return f"TLS alert {ending.alert} from {who} during the {phase}"
    texts = {
        "complete": "the HTTP answer was read",
        "close_notify": f"the server closed the TLS session during the {phase}, without an answer",
        "eof": f"the server closed the TCP connection during the {phase}",
        "reset": f"the server reset the TCP connection during the {phase}",
        "timeout": f"no answer from the server during the {phase}",
        "aborted": f"we stopped after the {phase}: {ending.detail}",
    }
    return texts.get(ending.kind, f"TLS error during the {phase}: {ending.detail}")


def conclude(
    ending: Ending,
    http: HttpAnswer | None,
    log: HandshakeLog,
    verification: ServerVerification,
    identity: ClientIdentity | None,
    check: ClientCheck | None,
) -> Conclusion:
    """Did the request succeed, and if not, is the client's or the server's side at fault?"""
    if verification.enabled and verification.errors:
        return Conclusion(
            "server_untrusted",
            "server",
            "the server's certificate did not verify against --ca; no request was sent",
            verification.errors,
        )
    if http is not None:
        return _http_conclusion(http, log, check)
    what = describe_ending(ending)
    if not log.certificate_requested:
        return Conclusion(
            "failed",
            "server",
            f"the connection failed before the server asked for a client certificate: {what}",
            ("The listener may not use mTLS, or its TLS settings refuse this client.",),
        )
    if identity is None:
        return Conclusion(
            "rejected",
            "client",
            f"the server asked for a client certificate and none was sent: {what}",
            ("Pass --cert CHAIN --key KEY.",),
        )
    return _rejected(what, check)


def _http_conclusion(http: HttpAnswer, log: HandshakeLog, check: ClientCheck | None) -> Conclusion:
    reasons = []
    if not log.certificate_requested:
        reasons.append("The server did not ask for a client certificate (mTLS off?).")
    if check is not None and not check.ok:
        reasons.append(
            f"Our chain fails the {check.basis.replace('_', ' ')} check ({check.verdict}); "
            "the listener may be in passthrough mode or ignore that problem."
        )
    if http.status < 400:
        return Conclusion(
            "ok", "none", f"HTTP {http.status}: the request succeeded", tuple(reasons)
        )
    reasons.append("TLS and mTLS worked; the HTTP error comes from the load balancer or target.")
    return Conclusion(
        "http_error", "server", f"HTTP {http.status} {http.reason}".strip(), tuple(reasons)
    )


def _rejected(what: str, check: ClientCheck | None) -> Conclusion:
    assert check is not None
    if not check.ok:
        failing = [f.message for f in check.findings if f.severity == "error"]
        return Conclusion(
            "rejected",
            "client",
            f"the server rejected our certificate ({what}); it fails the check: {check.verdict}",
            tuple(failing),
        )
    if check.basis == "none":
        return Conclusion(
            "rejected",
            "unknown",
            f"the server rejected the connection after asking for a certificate ({what})",
            (
                "Our chain passes every check that needs no trust store, and the server "
                "advertised no CA names; pass --trust-store BUNDLE to tell whose side it is.",
            ),
        )
    basis = "the trust store given" if check.basis == "trust_store" else "the advertised CA names"
    return Conclusion(
        "rejected",
        "server",
        f"the server rejected a chain that passes the check against {basis} ({what})",
        (
            "The listener's trust store, CRLs or settings differ from what was checked: "
            "compare them (mtls-doctor trust-store check) and read the connection log.",
        ),
    )
