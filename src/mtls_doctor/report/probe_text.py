"""The probe result as readable text: ``curl -v`` reorganised, plus what curl cannot show."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_doctor.pki.inspect import CertificateSummary, format_time
from mtls_doctor.pki.render import finding_text
from mtls_doctor.probe.assess import describe_ending
from mtls_doctor.probe.model import ProbeResult

_BODY_LINES = 12


def _chain_lines(certs: Sequence[CertificateSummary], indent: str = "  ") -> list[str]:
    if not certs:
        return [f"{indent}(none)"]
    lines = []
    for cert in certs:
        lines.append(f"{indent}[{cert.index}] {cert.subject}")
        lines.append(
            f"{indent}    issuer {cert.issuer}; serial {cert.serial}; "
            f"valid {format_time(cert.not_before)} .. {format_time(cert.not_after)}"
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _connection_lines(r: ProbeResult) -> list[str]:
    sni = r.endpoint.servername or "(none: IP address)"
    lines = [
        f"probe {r.url}  ({r.request_line})  at {format_time(r.at)}",
        f"connected to {r.peer_address} port {r.endpoint.port}; SNI {sni}",
        f"TLS: {r.tls_version or '-'}  cipher {r.cipher or '-'}  "
        f"group {r.key_exchange_group or '-'}",
    ]
    v = r.server_verification
    if not v.enabled:
        lines.append("server certificate: NOT VERIFIED (no --ca given)")
    elif v.ok:
        lines.append(f"server certificate: verified against --ca for {v.checked_name}")
    else:
        lines.append("server certificate: FAILED verification: " + "; ".join(v.errors or ("?",)))
    lines.append("server chain:")
    lines += _chain_lines(r.server_chain)
    return lines


def _client_lines(r: ProbeResult) -> list[str]:
    if not r.client_cert_requested:
        return ["client certificate: the server did NOT ask for one"]
    lines = ["client certificate: the server asked for one"]
    if r.advertised_ca_names:
        lines.append(f"  CA names advertised by the server ({len(r.advertised_ca_names)}):")
        lines += [f"    - {name}" for name in r.advertised_ca_names]
    else:
        lines.append("  CA names advertised by the server: none (advertising is off)")
    check = r.client_check
    if check is not None and check.issuer_advertised is not None:
        answer = f"yes ({check.matched_name})" if check.issuer_advertised else "NO"
        lines.append(f"  our chain's issuer among them: {answer}")
    lines.append("  we sent:" if r.sent_chain else "  we sent: no certificate")
    if r.sent_chain:
        lines += _chain_lines(r.sent_chain, "    ")
    return lines


def _http_lines(r: ProbeResult) -> list[str]:
    if r.http is None:
        return ["HTTP: no answer"]
    h = r.http
    lines = [f"HTTP: {h.status} {h.reason}  ({h.body_bytes} body bytes)"]
    lines += [f"  < {name}: {value}" for name, value in h.headers]
    if h.mtls_headers:
        lines.append("  X-Amzn-Mtls-* seen (echoed by the target):")
        lines += [f"    {name}: {value[:120]}" for name, value in h.mtls_headers]
    body = h.body_excerpt.splitlines()
    if body:
        lines.append("  body:")
        lines += [f"    {line[:160]}" for line in body[:_BODY_LINES]]
        if len(body) > _BODY_LINES:
            lines.append(f"    ... ({len(body) - _BODY_LINES} more lines)")
    return lines


def _check_lines(r: ProbeResult) -> list[str]:
    check = r.client_check
    if check is None:
        return []
    basis = {
        "trust_store": "against the trust store given",
        "advertised_names": "against the advertised CA names (trust judged by name only)",
        "none": "without a trust store (trust not checked)",
    }[check.basis]
    lines = [f"cert check {basis}: {check.verdict}"]
    lines += [finding_text(f) for f in check.findings]
    return lines


def render_text(r: ProbeResult) -> str:
    """The whole probe, top to bottom, ending with the conclusion."""
    t = r.timings
    lines = _connection_lines(r) + _client_lines(r) + _http_lines(r)
    lines.append(f"ended: {describe_ending(r.ending)}")
    if r.ending.detail and r.ending.kind != "complete":
        lines.append(f"  openssl: {r.ending.detail}")
    lines.append(
        f"timings: dns {_ms(t.dns_ms)}, tcp {_ms(t.tcp_connect_ms)}, "
        f"tls {_ms(t.tls_handshake_ms)}, first byte {_ms(t.first_byte_ms)}, "
        f"total {_ms(t.total_ms)}"
    )
    lines += _check_lines(r)
    c = r.conclusion
    side = {"none": "", "client": " [client side]", "server": " [server side]"}.get(
        c.side, " [side unknown]"
    )
    lines.append(f"result: {c.outcome.upper()}{side}: {c.summary}")
    lines += [f"  - {reason}" for reason in c.reasons]
    return "\n".join(lines) + "\n"


def render_trace(r: ProbeResult) -> str:
    """The handshake states as OpenSSL reported them (``curl -v``'s ``* TLSv1.3 (IN)`` lines)."""
    return "".join(f"* {state}\n" for state in r.handshake_trace)
