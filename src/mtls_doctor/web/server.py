"""Serving the dashboard: a threading WSGI server from the standard library."""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mtls_doctor.errors import NetworkError


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _V6Server(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The library does not print; the access log is off."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: nothing outside this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Dashboard:
    """A running dashboard: ``start()`` returns its URL, ``stop()`` shuts it down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app, self.host, self.port = app, host, port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        try:
            server_class = _V6Server if ":" in self.host else _ThreadingServer
            self._server = make_server(
                self.host, self.port, self.app, server_class=server_class,
                handler_class=_QuietHandler,
            )  # fmt: skip
        except OSError as error:
            raise NetworkError(
                f"cannot listen on {self.host}:{self.port}: {error.strerror or error}",
                hint="Pick another --port (0 picks a free one).",
            ) from None
        self.port = int(self._server.server_address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="dashboard", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
