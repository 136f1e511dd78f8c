"""The TLS side of the sandbox: a pyOpenSSL context that accepts any client chain, and a
non-blocking stream with deadlines so that a silent client never holds a thread forever.

Python's ``ssl`` module (3.11) cannot hand over a client chain it has not verified, so we
use pyOpenSSL: the verify callback accepts everything and the verdict engine decides after
the handshake, on the chain exactly as the client sent it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from OpenSSL import SSL

from mtls_doctor.pki.issue import PrivateKey
from mtls_doctor.tlsio import DeadlineTls

T = TypeVar("T")


class StreamClosed(Exception):
    """The peer closed the connection, or it was reset."""


class HandshakeFailed(Exception):
    """The TLS handshake failed (bad ClientHello, client abort, no shared cipher...)."""


def _accept_any(_conn: SSL.Connection, _cert: object, _errno: int, _depth: int, _ok: int) -> bool:
    # The verdict is decided after the handshake by the verdict engine, on the whole chain;
    # OpenSSL's own opinion (no trust anchors are loaded here) is ignored.
    return True


def build_context(
    cert_chain: Sequence[x509.Certificate],
    key: PrivateKey,
    advertise: Sequence[x509.Certificate] = (),
) -> SSL.Context:
    """A server context that asks for a client certificate and accepts whatever comes."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    # TLS 1.0 and up, as under the ALB's default policy (ELBSecurityPolicy-2016-08), so that
    # old clients reach the logs and `policy check` can name them (spec §1.4).
    ctx.set_min_proto_version(SSL.TLS1_VERSION)
    ctx.use_certificate(cert_chain[0])
    for extra in cert_chain[1:]:
        ctx.add_extra_chain_cert(extra)
    ctx.use_privatekey(key)
    ctx.check_privatekey()
    # Security level 0 so OpenSSL lets weak client keys through to the verdict engine, which
    # reports them as the ALB does (ClientCertTypeUnsupported) instead of a handshake error.
    ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    # VERIFY_PEER without FAIL_IF_NO_PEER_CERT: a client without a certificate completes the
    # handshake and gets the engine's verdict for an empty chain (documented assumption).
    ctx.set_verify(SSL.VERIFY_PEER, _accept_any)
    # The ALB does not support session resumption with mTLS (spec §3.8).
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.set_options(SSL.OP_NO_TICKET)
    for ca in advertise:
        ctx.add_client_ca(ca)
    return ctx


@dataclass(frozen=True)
class HandshakeInfo:
    """What the handshake negotiated and what the client sent."""

    protocol: str | None
    cipher: str | None
    group: str | None
    chain: tuple[x509.Certificate, ...]  # leaf first, as sent


def negotiated_group(conn: SSL.Connection) -> str | None:
    """Key-exchange group (``x25519``, ``secp256r1``...) from ``SSL_get0_group_name``.

    pyOpenSSL has no public API for it; we read it through the OpenSSL binding that
    ``cryptography`` ships when that exposes the function (OpenSSL >= 3.2), else ``None``
    (logged as ``-``). The ALB's spelling of groups is UNCONFIRMED beyond ``secp256r1``
    seen in third-party samples (spec §1.6); we log OpenSSL's name.
    """
    if conn.get_cipher_name() is None:  # no negotiated session: the call would crash
        return None
    try:
        from OpenSSL._util import ffi, lib  # private, hence the guard

        if not getattr(lib, "Cryptography_HAS_SSL_GET0_GROUP_NAME", False):
            return None
        name = lib.SSL_get0_group_name(conn._ssl)  # type: ignore[attr-defined]
        return None if name == ffi.NULL else ffi.string(name).decode("ascii")
    except Exception:  # an optional detail must never break a connection
        return None


class TlsStream(DeadlineTls):
    """One server-side TLS connection over a non-blocking socket, every call with a deadline."""

    def __init__(self, ctx: SSL.Context, sock: socket.socket) -> None:
        super().__init__(ctx, sock)
        self.conn.set_accept_state()

    def handshake(self, deadline: float) -> HandshakeInfo:
        try:
            self.drive(self.conn.do_handshake, deadline)
        except (SSL.Error, OSError) as error:
            raise HandshakeFailed(str(error) or type(error).__name__) from None
        return self.info()

    def info(self) -> HandshakeInfo:
        leaf = self.conn.get_peer_certificate(as_cryptography=True)
        # On the server side OpenSSL's peer chain excludes the leaf.
        rest = self.conn.get_peer_cert_chain(as_cryptography=True) or []
        return HandshakeInfo(
            protocol=self.conn.get_protocol_version_name() or None,
            cipher=self.conn.get_cipher_name(),
            group=negotiated_group(self.conn),
            chain=(leaf, *rest) if leaf is not None else (),
        )

    def partial_info(self) -> HandshakeInfo:
        """What is known after a failed handshake: nothing we can trust. (Querying the
        half-built session, e.g. its group, can crash OpenSSL, so we do not.)"""
        return HandshakeInfo(None, None, None, ())

    def recv(self, size: int, deadline: float) -> bytes:
        """Up to ``size`` bytes; ``b""`` when the peer closed."""
        try:
            return self.drive(lambda: self.conn.recv(size), deadline)
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return b""
        except (SSL.Error, OSError) as error:
            raise StreamClosed(str(error)) from None

    def sendall(self, data: bytes, deadline: float) -> None:
        offset = 0
        while offset < len(data):
            piece = data[offset : offset + 65536]
            try:
                sent = self.drive(lambda p=piece: self.conn.send(p), deadline)  # type: ignore[misc]
            except (SSL.Error, OSError) as error:
                raise StreamClosed(str(error)) from None
            offset += sent

    def close(self, graceful: bool = True) -> None:
        """Send close_notify (best effort, never blocks) and close the socket."""
        if graceful:
            with contextlib.suppress(SSL.Error, OSError):
                self.conn.shutdown()
        with contextlib.suppress(OSError):
            self.sock.close()
