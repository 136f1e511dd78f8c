"""What a probe of a live endpoint found: frozen dataclasses with a hand-written JSON contract.

The shape of :meth:`ProbeResult.to_dict` is documented in docs/probe.md; change it only with a
new ``schema_version``. Nothing here ever holds private-key material: the client identity is
described by its certificates only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mtls_doctor.pki.findings import Finding
from mtls_doctor.pki.inspect import CertificateSummary, format_time
from mtls_doctor.pki.verdict import ChainVerdict

SCHEMA_VERSION = 1

# Which side a failed probe points at (see probe/assess.py for the rules).
SIDES = ("none", "client", "server", "unknown")


@dataclass(frozen=True)
class ProbeOptions:
    """Everything one probe needs. ``key_password`` is held in memory only, never reported."""

    url: str
    cert: Path | None = None  # PEM chain, leaf first (a private key in it is used, never copied)
    key: Path | None = None  # defaults to ``cert`` when that file holds the key
    key_password: bytes | None = field(default=None, repr=False)
    ca: Path | None = None  # server CA bundle; None = server verification off
    servername: str | None = None  # SNI and the name checked; default: the URL's host
    request: str | None = None  # "GET /path"; default: GET and the URL's path
    trust_store: Path | None = None  # the listener's CA bundle, for the client-side check
    crls: tuple[Path, ...] = ()
    ignore_expiry: bool = False
    timeout: float = 10.0  # per phase, seconds
    max_body_bytes: int = 64 * 1024  # the response body excerpt kept


@dataclass(frozen=True)
class Endpoint:
    """The target as parsed from the URL."""

    host: str
    port: int
    path: str
    servername: str | None  # None for an IP literal without --servername (no SNI, like curl)

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Timings:
    """Milliseconds per phase; ``None`` for a phase that was not reached."""

    dns_ms: float | None = None
    tcp_connect_ms: float | None = None
    tls_handshake_ms: float | None = None
    first_byte_ms: float | None = None  # from sending the request to the first response byte
    total_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "dns_ms": r(self.dns_ms),
            "tcp_connect_ms": r(self.tcp_connect_ms),
            "tls_handshake_ms": r(self.tls_handshake_ms),
            "first_byte_ms": r(self.first_byte_ms),
            "total_ms": r(self.total_ms),
        }


@dataclass(frozen=True)
class Ending:
    """How the connection ended.

    ``kind``: ``complete`` (HTTP answer read), ``alert`` (a TLS alert from the server),
    ``close_notify`` (the server closed TLS cleanly), ``eof`` (TCP closed without TLS
    close_notify), ``reset``, ``timeout``, ``tls_error`` (any other TLS failure), or
    ``aborted`` (we stopped, e.g. after a failed server verification).
    ``phase``: ``tls_handshake``, ``http_request`` or ``http_response``.
    """

    kind: str
    phase: str
    alert: str | None = None  # RFC 8446 name, e.g. "unknown_ca"
    alert_from: str | None = None  # "server" (received) or "client" (we sent it)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "phase": self.phase,
            "alert": self.alert,
            "alert_from": self.alert_from,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ServerVerification:
    """Our check of the server's certificate (off without ``--ca``)."""

    enabled: bool
    ok: bool | None  # None when disabled
    errors: tuple[str, ...] = ()
    checked_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "ok": self.ok,
            "errors": list(self.errors),
            "checked_name": self.checked_name,
        }


@dataclass(frozen=True)
class HttpAnswer:
    """The server's HTTP response, as far as it came."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body_excerpt: str
    body_bytes: int
    mtls_headers: tuple[tuple[str, str], ...]  # X-Amzn-Mtls-* seen in headers or echoed back

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "headers": [[n, v] for n, v in self.headers],
            "body_excerpt": self.body_excerpt,
            "body_bytes": self.body_bytes,
            "mtls_headers": [[n, v] for n, v in self.mtls_headers],
        }


@dataclass(frozen=True)
class ClientCheck:
    """``cert check`` of our chain against what we know of the server's trust store.

    ``basis``: ``trust_store`` (the CA bundle given), ``advertised_names`` (only the CA names
    the server sent: trust is judged by issuer name, the other checks run as usual) or
    ``none`` (nothing to check trust against; the other checks still run).
    """

    basis: str
    verdict: str  # predicted tls_verify_status code ("Success" or a documented code)
    findings: tuple[Finding, ...]
    issuer_advertised: bool | None  # None when the server advertised no names
    matched_name: str | None
    chain_verdict: ChainVerdict | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "Success"

    def to_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "issuer_advertised": self.issuer_advertised,
            "matched_name": self.matched_name,
        }


@dataclass(frozen=True)
class Conclusion:
    """The probe's answer: did it work, and whose side is at fault."""

    outcome: str  # "ok", "rejected", "http_error", "server_untrusted", "failed"
    side: str  # one of SIDES
    summary: str
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "side": self.side,
            "summary": self.summary,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ProbeResult:
    """One probe, from DNS to the last byte."""

    url: str
    endpoint: Endpoint
    peer_address: str | None
    request_line: str
    at: datetime
    tls_version: str | None
    cipher: str | None
    key_exchange_group: str | None
    server_chain: tuple[CertificateSummary, ...]
    server_verification: ServerVerification
    client_cert_requested: bool
    advertised_ca_names: tuple[str, ...]
    sent_chain: tuple[CertificateSummary, ...]  # what we sent, leaf first; () if nothing
    configured_chain: tuple[CertificateSummary, ...]  # what --cert holds
    http: HttpAnswer | None
    ending: Ending
    timings: Timings
    handshake_trace: tuple[str, ...]
    client_check: ClientCheck | None
    conclusion: Conclusion
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "url": self.url,
            "host": self.endpoint.host,
            "port": self.endpoint.port,
            "servername": self.endpoint.servername,
            "peer_address": self.peer_address,
            "request": self.request_line,
            "at": format_time(self.at),
            "tls": {
                "version": self.tls_version,
                "cipher": self.cipher,
                "key_exchange_group": self.key_exchange_group,
            },
            "server_chain": [c.to_dict() for c in self.server_chain],
            "server_verification": self.server_verification.to_dict(),
            "client_certificate": {
                "requested": self.client_cert_requested,
                "advertised_ca_names": list(self.advertised_ca_names),
                "configured_chain": [c.to_dict() for c in self.configured_chain],
                "sent_chain": [c.to_dict() for c in self.sent_chain],
            },
            "http": self.http.to_dict() if self.http else None,
            "ending": self.ending.to_dict(),
            "timings": self.timings.to_dict(),
            "handshake_trace": list(self.handshake_trace),
            "client_check": self.client_check.to_dict() if self.client_check else None,
            "conclusion": self.conclusion.to_dict(),
            "warnings": list(self.warnings),
        }
