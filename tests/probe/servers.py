"""Peers for the probe tests besides the sandbox: a strict OpenSSL server that rejects inside
the handshake (as a real TLS terminator does), a server that closes at once, and a free port."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from OpenSSL import SSL

from mtls_doctor.pki.scenarios import ScenarioSet


def _strict_context(pki: ScenarioSet, tls_max: int | None, advertise: bool) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    if tls_max is not None:
        ctx.set_max_proto_version(tls_max)
    ctx.use_certificate_file(str(pki.path(pki.server_cert)))
    ctx.use_privatekey_file(str(pki.path(pki.server_key)))
    ctx.load_verify_locations(str(pki.path(pki.trust_store)))
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: bool(a[-1]))
    ctx.set_options(SSL.OP_NO_TICKET)
    if advertise:
        from cryptography import x509

        root = x509.load_pem_x509_certificate(pki.path(pki.root_ca).read_bytes())
        ctx.add_client_ca(root)
    return ctx


def _serve_tls(listener: socket.socket, ctx: SSL.Context) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        # Blocking, with a kernel receive timeout: a Python socket timeout would make the
        # descriptor non-blocking under OpenSSL.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
        conn = SSL.Connection(ctx, sock)
        conn.set_accept_state()
        try:
            conn.do_handshake()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            conn.shutdown()
        except (SSL.Error, OSError):
            pass
        finally:
            sock.close()


def _serve_close(listener: socket.socket) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.close()


@contextlib.contextmanager
def _listening(target: object, *args: object) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    thread = threading.Thread(target=target, args=(listener, *args), daemon=True)  # type: ignore[arg-type]
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def strict_server(
    pki: ScenarioSet, tls_max: int | None = None, advertise: bool = False
) -> contextlib.AbstractContextManager[int]:
    """A server that verifies the client inside the handshake; yields its port."""
    return _listening(_serve_tls, _strict_context(pki, tls_max, advertise))


def closing_server() -> contextlib.AbstractContextManager[int]:
    """A server that accepts TCP and closes at once; yields its port."""
    return _listening(_serve_close)


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def combined_file(tmp: Path, chain: Path, key: Path) -> Path:
    """A chain file with the private key appended (as some tools export it)."""
    path = tmp / "chain-with-key.pem"
    path.write_bytes(chain.read_bytes() + key.read_bytes())
    return path
