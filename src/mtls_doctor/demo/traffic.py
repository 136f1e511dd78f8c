"""The demo's clients: who connects, with which certificate, from which address, and when.

Each client has its own loopback source address (127.0.x.y: Linux routes all of 127/8 to
``lo``), so the logs show many clients. Time is simulated: the sandbox reads a
:class:`SimClock` that the driver moves one minute per batch, so an hour of traffic takes
seconds and the timeline has minutes to show.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

REQUEST = b"GET /api/orders HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
# How fast simulated time runs inside one batch (a batch lasts well under a real second).
_SPEEDUP = 40.0
_BATCH_SPAN = timedelta(seconds=58)


class SimClock:
    """A clock for the sandbox: the batch's minute plus the real time since it began, sped up."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base = start
        self._real = time.monotonic()

    def set(self, at: datetime) -> None:
        with self._lock:
            self._base, self._real = at, time.monotonic()

    def __call__(self) -> datetime:
        with self._lock:
            elapsed = timedelta(seconds=(time.monotonic() - self._real) * _SPEEDUP)
            return self._base + min(elapsed, _BATCH_SPAN)


@dataclass(frozen=True)
class Identity:
    """What a client presents: certificate chain and key files, or nothing."""

    name: str
    chain: Path | None
    key: Path | None
    # Offers TLS 1.1 at most (TLS 1.2 with a CBC cipher where the local OpenSSL has no TLS
    # 1.1): the old client that `policy check` with a TLS 1.2+ policy must name.
    legacy_tls: bool = False


@dataclass(frozen=True)
class Client:
    """One client machine: its address, its certificate and how often it connects (0..1)."""

    address: str
    identity: Identity
    rate: float


def client_address(index: int) -> str:
    """127.0.1.10, 127.0.1.11, ...: distinct and valid for any index below 60000."""
    return f"127.0.{1 + index // 250}.{10 + index % 250}"


def make_context(identity: Identity, ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if identity.legacy_tls:
        _legacy(context)
    if identity.chain is not None and identity.key is not None:
        context.load_cert_chain(str(identity.chain), str(identity.key))
    return context


def _legacy(context: ssl.SSLContext) -> None:
    """Offer only what an old client offers: TLS 1.0/1.1, or TLS 1.2 with a CBC cipher."""
    if ssl.HAS_TLSv1_1:
        with warnings.catch_warnings():  # deprecated, and exactly what this client is for
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        # OpenSSL 3 refuses TLS < 1.2 above security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA")


def connect(port: int, source: str, context: ssl.SSLContext, timeout: float = 5.0) -> bool:
    """One connection from ``source``: handshake, one request; True when a response came."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(REQUEST)
                answer = b""
                while chunk := tls.recv(65536):
                    answer += chunk
                return answer.startswith(b"HTTP/1.1 2")
    except (OSError, ssl.SSLError):
        return False  # refused by the listener: exactly what the log records


@dataclass
class Driver:
    """Sends batches of connections, one simulated minute each."""

    clock: SimClock
    ca_file: Path
    rng: random.Random
    workers: int = 8
    sent: int = 0

    def __post_init__(self) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _context(self, identity: Identity) -> ssl.SSLContext:
        if identity.name not in self._contexts:
            self._contexts[identity.name] = make_context(identity, self.ca_file)
        return self._contexts[identity.name]

    def run_minutes(
        self,
        port: int,
        clients: Sequence[Client],
        start: datetime,
        minutes: int,
        on_minute: Callable[[datetime], None] | None = None,
        everyone_first: bool = False,
    ) -> None:
        """``minutes`` batches from ``start``; ``everyone_first``: all clients in the first."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="demo-client") as pool:
            for minute in range(minutes):
                at = start + timedelta(minutes=minute)
                self.clock.set(at)
                everyone = everyone_first and minute == 0
                batch = [c for c in clients if everyone or self.rng.random() < c.rate]
                jobs = [
                    pool.submit(connect, port, c.address, self._context(c.identity)) for c in batch
                ]
                for job in jobs:
                    job.result()
                self.sent += len(batch)
                if on_minute is not None:
                    on_minute(at)
