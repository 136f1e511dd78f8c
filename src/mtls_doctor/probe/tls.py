"""The client side of the TLS connection: the pyOpenSSL context, what OpenSSL tells us during
the handshake (states, alerts, server-verification errors), and a stream with deadlines.

pyOpenSSL rather than ``ssl``: only it hands over the CA names of the server's
CertificateRequest (``get_client_ca_list``), the whole peer chain, and the alerts as they come.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from OpenSSL import SSL

from mtls_doctor.errors import CertificateLoadError
from mtls_doctor.probe.identity import ClientIdentity
from mtls_doctor.tlsio import DeadlineTls

T = TypeVar("T")

# TLS alert descriptions (RFC 8446 §6 and the older ones OpenSSL still names).
ALERTS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}
# "sslv3 alert certificate expired", "tlsv13 alert certificate required", "ssl/tls alert ..."
_ALERT_TEXT = re.compile(r"(?:sslv3|tlsv1\d?|ssl/tls) alert ([a-z ]+)")
# Verify error numbers we name ourselves (OpenSSL's X509_V_ERR_*); others print as a number.
VERIFY_ERRORS: dict[int, str] = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
    62: "hostname mismatch",
}


def alert_from_error(text: str) -> str | None:
    """The RFC name of the alert an OpenSSL error string reports, if any."""
    match = _ALERT_TEXT.search(text.lower())
    return match.group(1).strip().replace(" ", "_") if match else None


@dataclass
class HandshakeLog:
    """What OpenSSL reported while the connection ran (filled in by its callbacks)."""

    states: list[str] = field(default_factory=list)
    alerts_received: list[str] = field(default_factory=list)
    alerts_sent: list[str] = field(default_factory=list)
    verify_errors: list[str] = field(default_factory=list)

    @property
    def certificate_requested(self) -> bool:
        return any("certificate request" in s for s in self.states)

    @property
    def client_certificate_written(self) -> bool:
        return any("write client certificate" in s for s in self.states)

    def on_info(self, conn: SSL.Connection, where: int, ret: int) -> None:
        if where & SSL.SSL_CB_ALERT:
            name = ALERTS.get(ret & 0xFF, f"alert {ret & 0xFF}")
            (self.alerts_received if where & SSL.SSL_CB_READ else self.alerts_sent).append(name)
        elif where & SSL.SSL_CB_LOOP:
            state = conn.get_state_string().decode("ascii", "replace")
            if not self.states or self.states[-1] != state:
                self.states.append(state)

    def on_verify(
        self, _conn: SSL.Connection, cert: object, errno: int, depth: int, ok: int
    ) -> bool:
        if not ok:
            text = VERIFY_ERRORS.get(errno, f"verify error {errno}")
            entry = f"depth {depth}: {text}"
            if entry not in self.verify_errors:
                self.verify_errors.append(entry)
        # Never fail inside the handshake: we want the chain, the CA names and the alerts
        # first; the probe stops before sending the request when verification failed.
        return True


def build_context(
    identity: ClientIdentity | None, ca: Path | None, log: HandshakeLog
) -> SSL.Context:
    """A client context presenting ``identity`` and verifying the server against ``ca``."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    # Security level 0: the probe must be able to *send* a weak certificate, so that the
    # server's answer to it can be seen (OpenSSL would refuse to load it otherwise).
    ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    ctx.set_options(SSL.OP_NO_TICKET)  # the ALB does not resume sessions with mTLS (§3.8)
    if identity is not None:
        try:
            ctx.use_certificate(identity.chain[0])
            for extra in identity.chain[1:]:
                ctx.add_extra_chain_cert(extra)
            ctx.use_privatekey(identity.key)
            ctx.check_privatekey()
        except SSL.Error as error:
            raise CertificateLoadError(
                f"OpenSSL refused the client certificate or key: {error}"
            ) from None
    if ca is not None:
        try:
            ctx.load_verify_locations(str(ca))
        except SSL.Error:
            raise CertificateLoadError(
                f"{ca}: cannot load the server CA bundle", hint="--ca takes a PEM CA bundle."
            ) from None
        ctx.set_verify(SSL.VERIFY_PEER, log.on_verify)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    ctx.set_info_callback(log.on_info)
    return ctx


class ClientStream(DeadlineTls):
    """One client TLS connection over a non-blocking socket; every call has a deadline."""

    def __init__(self, ctx: SSL.Context, sock: socket.socket, servername: str | None) -> None:
        super().__init__(ctx, sock)
        if servername:
            self.conn.set_tlsext_host_name(servername.encode("idna"))
        self.conn.set_connect_state()

    def handshake(self, deadline: float) -> None:
        self.drive(self.conn.do_handshake, deadline)

    def sendall(self, data: bytes, deadline: float) -> None:
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + 16384]
            offset += self.drive(lambda p=piece: self.conn.send(p), deadline)  # type: ignore[misc]

    def recv(self, size: int, deadline: float) -> bytes:
        """Up to ``size`` bytes; raises ZeroReturnError / SysCallError / Error at the end."""
        return self.drive(lambda: self.conn.recv(size), deadline)

    def server_chain(self) -> list[x509.Certificate]:
        return list(self.conn.get_peer_cert_chain(as_cryptography=True) or [])

    def advertised_names(self) -> list[x509.Name]:
        return list(self.conn.get_client_ca_list(as_cryptography=True))

    def negotiated(self) -> tuple[str | None, str | None, str | None]:
        """(TLS version, cipher, key-exchange group) once the handshake is done."""
        cipher = self.conn.get_cipher_name()
        if cipher is None:
            return None, None, None
        group: str | None = None
        with contextlib.suppress(Exception):  # an optional detail; older OpenSSL lacks it
            group = self.conn.get_group_name()
        return self.conn.get_protocol_version_name() or None, cipher, group

    def close(self) -> None:
        with contextlib.suppress(SSL.Error, OSError):
            self.conn.shutdown()
        with contextlib.suppress(OSError):
            self.sock.close()
