"""The ALB-like mTLS listener: accept loop, per-connection threads, log rotation, shutdown.

Library API::

    sandbox = Sandbox(SandboxConfig(log_dir=..., trust_store=..., port=0))
    url = sandbox.start()          # "https://127.0.0.1:PORT/"
    ...
    summary = sandbox.stop()       # drains, closes, delivers the last log file

``run_forever()`` blocks until SIGTERM or SIGINT (main thread only) and then stops.
"""

from __future__ import annotations

import contextlib
import errno
import select
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mtls_doctor.errors import CertificateLoadError, NetworkError
from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.pki.issue import CertSpec, Issued, PrivateKey, generate_key, issue
from mtls_doctor.pki.verdict import TrustStore
from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.connection import Connection, Listener
from mtls_doctor.sandbox.logwriter import ConnLogWriter, LogNaming
from mtls_doctor.sandbox.tls import build_context


@dataclass(frozen=True)
class SandboxSummary:
    """What a sandbox run did."""

    url: str
    connections: int
    statuses: dict[str, int]
    lines_written: int
    log_files: tuple[Path, ...]
    temporary_server_cert: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "url": self.url,
            "connections": self.connections,
            "statuses": dict(sorted(self.statuses.items())),
            "lines_written": self.lines_written,
            "log_files": [str(p) for p in self.log_files],
            "temporary_server_cert": self.temporary_server_cert,
        }


def _load_server_identity(
    cert_path: Path, key_path: Path
) -> tuple[list[x509.Certificate], PrivateKey]:
    try:
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CertificateLoadError(
            f"cannot load the server certificate or key ({error})",
            hint="--server-cert takes PEM (certificate first, then its chain); "
            "--server-key an unencrypted PEM key.",
        ) from None
    return chain, key  # type: ignore[return-value]


def temporary_identity(host: str, now: datetime) -> Issued:
    """A throw-away self-signed server certificate for localhost, the loopback addresses
    and ``host``; kept in memory only."""
    ips = {"127.0.0.1", "::1"}
    names = {"localhost"}
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        ips.add(host)
    except OSError:
        names.add(host)
    spec = CertSpec(
        "localhost",
        now - timedelta(hours=1),
        now + timedelta(days=7),
        eku="serverAuth",
        dns_names=tuple(sorted(names)),
        ip_addresses=tuple(sorted(ips)),
    )
    return issue(spec, None, generate_key("ec256"))


class Sandbox:
    """A local listener that behaves like an ALB HTTPS listener with mTLS."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.temporary_server_cert = config.server_cert is None
        self.server_certificate: x509.Certificate | None = None
        self.url = ""
        self.port = 0
        self._sock: socket.socket | None = None
        self._writer: ConnLogWriter | None = None
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._active: dict[int, Connection] = {}
        self._threads: set[threading.Thread] = set()
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self._statuses: Counter[str] = Counter()
        self._connections = 0
        self._summary: SandboxSummary | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Bind, start accepting and return the URL (``https://HOST:PORT/``)."""
        config = self.config
        store = (
            TrustStore.from_files(config.trust_store, config.crls) if config.trust_store else None
        )
        if config.server_cert and config.server_key:
            chain, key = _load_server_identity(config.server_cert, config.server_key)
        else:
            temp = temporary_identity(config.host, config.clock())
            chain, key = [temp.cert], temp.key
        self.server_certificate = chain[0]
        advertise = store.ca_certificates if (store and config.advertise_ca_names) else ()
        context = build_context(chain, key, advertise)
        self._sock = self._bind()
        self.port = self._sock.getsockname()[1]
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.url = f"https://{host}:{self.port}/"
        naming = LogNaming.from_config(config, config.host)
        self._writer = ConnLogWriter(
            config.log_dir, naming, config.rotate_seconds, config.clock, config.json_values
        )
        self._writer.start(config.clock())
        self._listener = Listener(
            config, context, store, self.port, config.host, self._write_entry, self._stopping.is_set
        )
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="sandbox-accept", daemon=True
        )
        self._accept_thread.start()
        return self.url

    def stop(self) -> SandboxSummary:
        """Stop accepting, let open connections finish (``drain_seconds``), close the rest,
        and deliver the last log file. Idempotent."""
        if self._summary is not None:
            return self._summary
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join()
        if self._sock is not None:
            self._sock.close()
        self._join_connections(self.config.drain_seconds)
        with self._lock:
            for conn in list(self._active.values()):
                conn.abort()
        self._join_connections(5.0)
        files: tuple[Path, ...] = ()
        lines = 0
        if self._writer is not None:
            self._writer.close(self.config.clock())
            files, lines = tuple(self._writer.files), self._writer.lines_written
        self._summary = SandboxSummary(
            self.url,
            self._connections,
            dict(self._statuses),
            lines,
            files,
            self.temporary_server_cert,
        )
        return self._summary

    def run_forever(self) -> SandboxSummary:
        """Serve until SIGTERM or SIGINT, then :meth:`stop`. Call from the main thread."""
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.stop()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._active)

    def statuses(self) -> dict[str, int]:
        with self._lock:
            return dict(self._statuses)

    # --- internals -------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as error:
            sock.close()
            raise NetworkError(
                f"cannot listen on {self.config.host}:{self.config.port}: {error.strerror}",
                hint="Pick another port, or --listen 127.0.0.1:0 for a free one.",
            ) from None
        sock.listen(512)
        sock.setblocking(False)
        return sock

    def _write_entry(self, entry: LogEntry) -> None:
        assert self._writer is not None
        self._writer.write(entry, self.config.clock())
        with self._lock:
            self._statuses[entry.tls_verify_status] += 1

    def _accept_loop(self) -> None:
        assert self._sock is not None
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        while not self._stopping.is_set():
            if not poller.poll(200):
                continue
            while not self._slots.acquire(timeout=0.2):
                if self._stopping.is_set():
                    return
            try:
                sock, peer = self._sock.accept()
            except OSError as error:
                self._slots.release()
                if error.errno in (errno.EMFILE, errno.ENFILE):
                    time.sleep(0.1)  # out of descriptors: let connections finish
                continue
            self._spawn(sock, (peer[0], peer[1]))

    def _spawn(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        conn = Connection(self._listener, sock, peer)
        thread = threading.Thread(
            target=self._run_connection, args=(conn,), daemon=True, name=f"sandbox-conn-{peer[1]}"
        )
        with self._lock:
            self._connections += 1
            self._active[id(conn)] = conn
            self._threads.add(thread)
        thread.start()

    def _run_connection(self, conn: Connection) -> None:
        try:
            conn.run()
        except Exception:  # one broken connection must never take the listener down
            with contextlib.suppress(Exception):
                conn.stream.close(graceful=False)
        finally:
            with self._lock:
                self._active.pop(id(conn), None)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _join_connections(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return
            threads[0].join(max(0.0, deadline - time.monotonic()))
