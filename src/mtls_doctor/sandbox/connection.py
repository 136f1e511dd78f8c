"""One client connection: handshake, verdict, one log line, then HTTP/1.1 until it closes.

The log line is written as soon as the verdict is known (before any HTTP), so a connection
that finished its handshake is in the log even if the sandbox is stopped a moment later.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from mtls_doctor.knowledge.codes import FAILED_PREFIX, SUCCESS
from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.pki.inspect import format_serial
from mtls_doctor.pki.verdict import TrustStore, check_chain
from mtls_doctor.sandbox.config import HANDSHAKE_FAILURE_CODE, SandboxConfig
from mtls_doctor.sandbox.headers import mtls_headers, strip_mtls_headers
from mtls_doctor.sandbox.http import (
    HttpError,
    Request,
    RequestReader,
    Response,
    echo,
    error_response,
    forward,
    forward_headers,
)
from mtls_doctor.sandbox.tls import (
    HandshakeInfo,
    StreamClosed,
    TlsStream,
)
from mtls_doctor.tlsio import StreamTimeout


def new_trace_id() -> str:
    """``TID_`` + 32 hex digits, the shape of the ALB's ``conn_trace_id`` (spec §1.4)."""
    return "TID_" + secrets.token_hex(16)


def status_of(code: str) -> str:
    return code if code == SUCCESS else FAILED_PREFIX + code


@dataclass(frozen=True)
class Listener:
    """What every connection shares: settings, TLS context, trust store and the log sink."""

    config: SandboxConfig
    context: SSL.Context
    trust_store: TrustStore | None
    port: int
    node_ip: str
    log: Callable[[LogEntry], None]
    stopping: Callable[[], bool]

    def verdict(self, chain: Sequence[x509.Certificate], at: datetime) -> str:
        """The verdict code: the engine's in verify mode (the same one as ``cert check``);
        passthrough accepts everything (the target verifies)."""
        if self.config.mode == "passthrough" or self.trust_store is None:
            return SUCCESS
        ders = [c.public_bytes(Encoding.DER) for c in chain]
        try:
            result = check_chain(
                ders, self.trust_store, at=at, ignore_expiry=self.config.ignore_expiry
            )
        except Exception:  # an engine bug must cost one connection, not the listener
            return HANDSHAKE_FAILURE_CODE
        return result.verdict


class Connection:
    """Handles one accepted socket from start to close (runs in its own thread)."""

    def __init__(self, listener: Listener, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.listener = listener
        self.config = listener.config
        self.peer = peer
        self.trace_id = new_trace_id()
        self.stream = TlsStream(listener.context, sock)
        self.status: str | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            info = self.stream.handshake(started + self.config.handshake_timeout)
        except Exception:  # HandshakeFailed, StreamTimeout, or a chain we cannot read
            self._log(self.stream.partial_info(), None, HANDSHAKE_FAILURE_CODE)
            self.stream.close(graceful=False)
            return
        latency = time.monotonic() - started
        code = self.listener.verdict(info.chain, self.config.clock())
        self._log(info, latency if code == SUCCESS else None, code)
        if code != SUCCESS:
            # A real ALB rejects inside the handshake; we decide just after it, so the client
            # sees close_notify and a closed connection, never an HTTP byte.
            self.stream.close(graceful=True)
            return
        try:
            self._serve(info)
        finally:
            self.stream.close(graceful=True)

    def abort(self) -> None:
        """Called from another thread on shutdown: wakes up any pending read or write."""
        with contextlib.suppress(OSError):
            self.stream.sock.shutdown(socket.SHUT_RDWR)

    def _log(self, info: HandshakeInfo, latency: float | None, code: str) -> None:
        leaf = info.chain[0] if info.chain else None
        self.status = status_of(code)
        entry = LogEntry(
            timestamp=self.config.clock(),
            client_ip=self.peer[0],
            client_port=self.peer[1],
            listener_port=self.listener.port,
            tls_protocol=info.protocol,
            tls_cipher=info.cipher,
            tls_handshake_latency=latency,
            leaf_client_cert_subject=leaf.subject.rfc4514_string() if leaf else None,
            not_before=leaf.not_valid_before_utc if leaf else None,
            not_after=leaf.not_valid_after_utc if leaf else None,
            leaf_client_cert_serial_number=format_serial(leaf.serial_number) if leaf else None,
            tls_verify_status=self.status,
            conn_trace_id=self.trace_id,
            tls_keyexchange=info.group,
            elb=self.config.elb,
            ip_address=self.listener.node_ip,
        )
        self.listener.log(entry)

    def _serve(self, info: HandshakeInfo) -> None:
        """HTTP/1.1 with keep-alive until the client closes, idles out, or we stop."""
        deadline = [time.monotonic() + self.config.idle_timeout]
        reader = RequestReader(
            lambda n: self.stream.recv(n, deadline[0]), self.config.max_body_bytes
        )
        added = mtls_headers(self.config.mode, info.chain, self.config.header_safe_chars)
        while not self.listener.stopping():
            deadline[0] = time.monotonic() + self.config.idle_timeout
            try:
                request = reader.read()
            except HttpError as error:
                self._send(error_response(error.status, error.reason), keep_alive=False)
                return
            except (StreamTimeout, StreamClosed):
                return
            if request is None:
                return
            keep_alive = request.keep_alive and not self.listener.stopping()
            if not self._send(self._answer(request, added), keep_alive) or not keep_alive:
                return

    def _answer(self, request: Request, added: Sequence[tuple[str, str]]) -> Response:
        cleaned = Request(
            request.method,
            request.target,
            request.version,
            tuple(strip_mtls_headers(request.headers)),
            request.body,
        )
        headers = forward_headers(cleaned, added, self.peer[0], self.listener.port)
        if self.config.target:
            return forward(self.config.target, cleaned, headers, self.config.idle_timeout)
        extra: dict[str, object] = {
            "mode": self.config.mode,
            "conn_trace_id": self.trace_id,
            "tls_verify_status": self.status,
        }
        return echo(cleaned, headers, extra)

    def _send(self, response: Response, keep_alive: bool) -> bool:
        try:
            self.stream.sendall(
                response.render(keep_alive), time.monotonic() + self.config.idle_timeout
            )
        except (StreamTimeout, StreamClosed):
            return False
        return True
