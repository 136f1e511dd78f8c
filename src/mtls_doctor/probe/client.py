"""``probe()``: connect to a live HTTPS endpoint with a client certificate and record everything
``curl -v`` shows and what it cannot: the CA names the server advertised, the chain we sent,
the alert that ended the connection, and the time of each phase.

TLS 1.3 note: a server that rejects the client certificate sends its alert *after* the
client's Finished, so the handshake looks successful and the failure shows on the first read.
The probe therefore always sends its request and reads, and reports the alert found there.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from mtls_doctor import __version__
from mtls_doctor.errors import NetworkError
from mtls_doctor.pki.inspect import describe_chain
from mtls_doctor.pki.verdict import TrustStore
from mtls_doctor.probe.assess import check_client, conclude, hostname_problem
from mtls_doctor.probe.http import build_request, parse_request, parse_response
from mtls_doctor.probe.identity import ClientIdentity, load_identity, parse_endpoint
from mtls_doctor.probe.model import (
    Ending,
    Endpoint,
    HttpAnswer,
    ProbeOptions,
    ProbeResult,
    ServerVerification,
    Timings,
)
from mtls_doctor.probe.tls import (
    ClientStream,
    HandshakeLog,
    alert_from_error,
    build_context,
)
from mtls_doctor.tlsio import StreamTimeout

_HINT = (
    "Check the host name and port, that the listener exists and that security groups and "
    "network ACLs let this machine in."
)


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


def _connect(endpoint: Endpoint, timeout: float) -> tuple[socket.socket, str, float, float]:
    """(socket, peer address, DNS ms, TCP ms); raises NetworkError naming host:port."""
    where = endpoint.hostport
    started = time.monotonic()
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NetworkError(
            f"cannot resolve {endpoint.host} ({where}): {error.strerror}",
            hint="Check the host name and this machine's DNS.",
        ) from None
    resolved = time.monotonic()
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as error:
            sock.close()
            last = error
            continue
        return sock, str(address[0]), _ms(started, resolved), _ms(resolved, time.monotonic())
    raise _connect_error(where, last, timeout)


def _connect_error(where: str, error: OSError | None, timeout: float) -> NetworkError:
    if isinstance(error, TimeoutError | socket.timeout):
        return NetworkError(
            f"cannot connect to {where}: no answer within {timeout:g} s", hint=_HINT
        )
    if isinstance(error, ConnectionRefusedError):
        return NetworkError(
            f"cannot connect to {where}: connection refused (nothing listens on that port)",
            hint=_HINT,
        )
    reason = (error.strerror if error else None) or str(error)
    return NetworkError(f"cannot connect to {where}: {reason}", hint=_HINT)


def _ending_from(error: BaseException, phase: str, log: HandshakeLog) -> Ending:
    """Classify what ended the connection."""
    if isinstance(error, StreamTimeout):
        return Ending("timeout", phase, detail="no answer from the server before the deadline")
    if isinstance(error, SSL.ZeroReturnError) or "close_notify" in log.alerts_received:
        return Ending("close_notify", phase, detail="the server closed the TLS session")
    received = [a for a in log.alerts_received if a != "close_notify"]
    if received:
        return Ending("alert", phase, received[-1], "server", _first_line(error))
    if isinstance(error, SSL.SysCallError | OSError):
        code = error.args[0] if error.args else None
        if code in (errno.ECONNRESET, errno.EPIPE) or isinstance(error, ConnectionResetError):
            return Ending("reset", phase, detail="the server reset the TCP connection")
        return Ending("eof", phase, detail="the server closed TCP without a TLS close_notify")
    text = _first_line(error)
    alert = alert_from_error(text)
    if alert:
        return Ending("alert", phase, alert, "server", text)
    sent = log.alerts_sent[-1] if log.alerts_sent else None
    return Ending("tls_error", phase, sent, "client" if sent else None, text)


def _first_line(error: BaseException) -> str:
    return (str(error) or type(error).__name__).splitlines()[0]


@dataclass
class _Run:
    """The mutable state of one probe while it runs."""

    options: ProbeOptions
    endpoint: Endpoint
    identity: ClientIdentity | None
    log: HandshakeLog = field(default_factory=HandshakeLog)
    timings: dict[str, float] = field(default_factory=dict)
    raw: bytes = b""
    http: HttpAnswer | None = None
    ending: Ending | None = None
    verify_errors: tuple[str, ...] = ()
    handshake_complete: bool = False

    def deadline(self) -> float:
        return time.monotonic() + self.options.timeout

    def handshake(self, stream: ClientStream) -> bool:
        started = time.monotonic()
        try:
            stream.handshake(self.deadline())
        except (SSL.Error, OSError, StreamTimeout) as error:
            self.ending = _ending_from(error, "tls_handshake", self.log)
            return False
        self.timings["tls_handshake_ms"] = _ms(started, time.monotonic())
        self.handshake_complete = True
        if stream.conn.get_protocol_version_name() == "TLSv1.3" and self.log.certificate_requested:
            return self._await_verdict(stream)
        return True

    def _await_verdict(self, stream: ClientStream) -> bool:
        # TLS 1.3: the server checks our certificate after our Finished, so its rejection
        # arrives about one round trip later. Sending the request first often turns that
        # alert into a TCP reset that hides it, so listen for a moment: ~3 connect times,
        # between 50 ms and 1 s.
        rtt = self.timings.get("tcp_connect_ms", 0.0) / 1000.0
        wait = min(max(3 * rtt + 0.05, 0.05), 1.0, self.options.timeout)
        try:
            self.raw += stream.recv(65536, time.monotonic() + wait)
        except StreamTimeout:
            return True
        except (SSL.Error, OSError) as error:
            self.ending = _ending_from(error, "tls_handshake", self.log)
            return False
        return True

    def exchange(self, stream: ClientStream, request: bytes, method: str) -> None:
        sent_at = time.monotonic()
        phase = "http_request"
        try:
            stream.sendall(request, self.deadline())
            phase = "http_response"
            self._read(stream, method, sent_at)
        except (SSL.Error, OSError, StreamTimeout) as error:
            if phase == "http_request":
                self._salvage(stream)
            self.http = parse_response(self.raw, method, self.options.max_body_bytes).answer
            if self.http is not None and not isinstance(error, StreamTimeout):
                self.ending = Ending("complete", phase, detail=_closing_note(error))
            else:
                self.ending = _ending_from(error, phase, self.log)

    def _salvage(self, stream: ClientStream) -> None:
        # TLS 1.3: the server's alert may be waiting in our receive buffer although our send
        # already failed; reading it lets the info callback record the alert's name.
        with contextlib.suppress(SSL.Error, OSError, StreamTimeout):
            self.raw += stream.recv(65536, time.monotonic() + 1.0)

    def _read(self, stream: ClientStream, method: str, sent_at: float) -> None:
        limit = self.options.max_body_bytes + 64 * 1024
        while len(self.raw) < limit:
            chunk = stream.recv(65536, self.deadline())
            if "first_byte_ms" not in self.timings:
                self.timings["first_byte_ms"] = _ms(sent_at, time.monotonic())
            self.raw += chunk
            parsed = parse_response(self.raw, method, self.options.max_body_bytes)
            if parsed.complete:
                self.http = parsed.answer
                self.ending = Ending("complete", "http_response", detail="response read")
                return
        self.http = parse_response(self.raw, method, self.options.max_body_bytes).answer
        self.ending = Ending("complete", "http_response", detail="response cut at the size cap")


def _closing_note(error: BaseException) -> str:
    if isinstance(error, SSL.ZeroReturnError):
        return "response read; the server closed with close_notify"
    return "response read; the server closed without close_notify"


def probe(
    options: ProbeOptions,
    *,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Connect, handshake, send one request, read the answer, and judge the outcome.

    Raises:
        NetworkError: the host cannot be resolved or the TCP connection fails (exit 4).
        InputError / CertificateLoadError / UsageError: bad URL, certificate, key or bundle.
    """
    endpoint = parse_endpoint(options.url, options.servername)
    method, path = parse_request(options.request, endpoint.path)
    identity = None
    if options.cert is not None:
        identity = load_identity(options.cert, options.key, options.key_password)
    store = None
    if options.trust_store is not None:
        store = TrustStore.from_files(options.trust_store, options.crls)
    run = _Run(options, endpoint, identity)
    ctx = build_context(identity, options.ca, run.log)
    started = clock()
    sock, peer, dns_ms, tcp_ms = _connect(endpoint, options.timeout)
    run.timings.update(dns_ms=dns_ms, tcp_connect_ms=tcp_ms)
    stream = ClientStream(ctx, sock, endpoint.servername)
    try:
        _talk(run, stream, method, path)
        server_certs = stream.server_chain()
        names = stream.advertised_names()
        negotiated = stream.negotiated() if run.handshake_complete else (None, None, None)
    finally:
        stream.close()
    run.timings["total_ms"] = (clock() - started) * 1000.0
    return _result(run, peer, f"{method} {path}", now, server_certs, names, negotiated, store)


def _talk(run: _Run, stream: ClientStream, method: str, path: str) -> None:
    if not run.handshake(stream):
        return
    verification = _server_verification(run, stream)
    if verification:
        run.verify_errors = verification
        run.ending = Ending("aborted", "tls_handshake", detail="server certificate not trusted")
        return
    host = run.endpoint.hostport if run.endpoint.port != 443 else run.endpoint.host
    request = build_request(method, path, host, f"mtls-doctor/{__version__}")
    run.exchange(stream, request, method)


def _server_verification(run: _Run, stream: ClientStream) -> tuple[str, ...]:
    if run.options.ca is None:
        return ()
    errors = list(run.log.verify_errors)
    chain = stream.server_chain()
    name = run.endpoint.servername or run.endpoint.host
    if chain:
        problem = hostname_problem(chain[0], name)
        if problem:
            errors.append(problem)
    return tuple(errors)


def _result(
    run: _Run,
    peer: str,
    request_line: str,
    now: datetime,
    server_certs: list[x509.Certificate],
    advertised: list[x509.Name],
    negotiated: tuple[str | None, str | None, str | None],
    store: TrustStore | None,
) -> ProbeResult:
    certs = server_certs
    identity = run.identity
    configured = describe_chain(list(identity.chain), list(identity.ders)) if identity else ()
    sent = configured if (identity and run.log.client_certificate_written) else ()
    check = check_client(identity, advertised, store, now, run.options.ignore_expiry)
    ca_given = run.options.ca is not None
    verification = ServerVerification(
        enabled=ca_given,
        ok=(not run.verify_errors) if ca_given and certs else None,
        errors=run.verify_errors,
        checked_name=(run.endpoint.servername or run.endpoint.host) if ca_given else None,
    )
    assert run.ending is not None
    warnings = list(identity.warnings) if identity else []
    if not ca_given:
        warnings.append("server certificate NOT verified (no --ca given): do not trust this peer")
    result = ProbeResult(
        url=run.options.url,
        endpoint=run.endpoint,
        peer_address=peer,
        request_line=request_line,
        at=now,
        tls_version=negotiated[0],
        cipher=negotiated[1],
        key_exchange_group=negotiated[2],
        server_chain=describe_chain(certs, [c.public_bytes(Encoding.DER) for c in certs]),
        server_verification=verification,
        client_cert_requested=run.log.certificate_requested,
        advertised_ca_names=tuple(n.rfc4514_string() for n in advertised),
        sent_chain=tuple(sent),
        configured_chain=tuple(configured),
        http=run.http,
        ending=run.ending,
        timings=Timings(**run.timings),
        handshake_trace=tuple(run.log.states),
        client_check=check,
        conclusion=conclude(run.ending, run.http, run.log, verification, identity, check),
        warnings=tuple(warnings),
    )
    return result
