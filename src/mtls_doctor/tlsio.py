"""A pyOpenSSL connection over a non-blocking socket in which every call has a deadline.

The sandbox (server side) and the probe (client side) both need TLS calls that can neither
hang on a silent peer nor block other connections; this is the one implementation.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from OpenSSL import SSL

T = TypeVar("T")


class StreamTimeout(Exception):
    """The deadline passed while waiting for the peer."""


class DeadlineTls:
    """``SSL.Connection`` driven to completion with poll(); subclasses pick the side."""

    def __init__(self, ctx: SSL.Context, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.conn = SSL.Connection(ctx, sock)

    def _wait(self, events: int, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamTimeout()
        poller = select.poll()
        poller.register(self.sock.fileno(), events | select.POLLERR | select.POLLHUP)
        if not poller.poll(remaining * 1000):
            raise StreamTimeout()

    def drive(self, op: Callable[[], T], deadline: float) -> T:
        """Run a pyOpenSSL call to completion; SSL.Error and OSError pass through."""
        while True:
            try:
                return op()
            except SSL.WantReadError:
                self._wait(select.POLLIN, deadline)
            except SSL.WantWriteError:
                self._wait(select.POLLOUT, deadline)
