"""Serving the dashboard: a WSGI server from the standard library with a fixed pool of workers.

Sized for a dashboard that several people open at once: the listen backlog holds a burst of
connections (socketserver's default of 5 made the kernel drop the SYNs of a 200-request burst,
so clients waited out retransmits of 1, 3, 7... s and timed out), and a fixed pool of worker
threads answers them in turn, each with a read-only DuckDB connection of its own, so a burst
costs a bounded amount of memory instead of a thread and a database per connection.

The server accepts only requests whose ``Host`` names it (DNS rebinding: a page on another
origin whose name resolves to 127.0.0.1 must not read the logs), and sends no version of
Python or of anything else.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mtls_doctor.errors import NetworkError, UsageError

SERVER_NAME = "mtls-doctor"
BACKLOG = 1024  # the kernel caps it at net.core.somaxconn (4096 on current Linux)
WORKERS = 8
REQUEST_TIMEOUT = 30.0  # seconds a client may take to send a request or read an answer
StartResponse = Any
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _PooledServer(WSGIServer):
    """``process_request`` hands each accepted connection to a fixed pool of threads."""

    request_queue_size = BACKLOG
    allow_reuse_address = True
    workers = WORKERS

    def server_activate(self) -> None:
        super().server_activate()
        self._pending: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"dashboard-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pending.put((request, client_address))

    def _work(self) -> None:
        while (item := self._pending.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except OSError:
                pass  # the client went away or was too slow: nothing to answer
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        threads = getattr(self, "_threads", [])  # none when the bind failed
        while threads:  # connections nobody started on are closed, not answered
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for _ in threads:
            self._pending.put(None)
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT)


class _V6Server(_PooledServer):
    address_family = socket.AF_INET6


# Sent with every answer. The policy repeats the pages' own <meta> policy (nothing loads from
# elsewhere) and adds what only a header can say: no page of another origin may frame this one.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
     "img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
     "frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)  # fmt: skip


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT  # a slow client cannot hold a worker for ever
    server_version = SERVER_NAME
    sys_version = ""  # the Server header of error answers names no Python

    def version_string(self) -> str:
        return SERVER_NAME

    def log_message(self, format: str, *args: Any) -> None:
        """The library does not print; the access log is off."""

    def end_headers(self) -> None:
        # Only the standard library's own answers (400, 408, 414, 431...) come through here;
        # the app's answers are written by wsgiref's handler, which adds SECURITY_HEADERS.
        for name, value in (*SECURITY_HEADERS, ("Cache-Control", "no-store")):
            self.send_header(name, value)
        super().end_headers()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: nothing outside this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_names(name: str) -> str:
    """``name`` as it appears in a Host header: lower case, IPv6 addresses in brackets."""
    bare = name.strip().lower().rstrip(".")
    try:
        if ipaddress.ip_address(bare.strip("[]")).version == 6:
            return f"[{bare.strip('[]')}]"
    except ValueError:
        pass
    if not bare or any(c in bare for c in "/ @?#\\"):
        raise UsageError(f"--allow-host {name!r} is not a host name", hint="e.g. dash.internal")
    return bare


def allowed_hosts(host: str, port: int, extra: Sequence[str] = ()) -> frozenset[str]:
    """The Host header values a dashboard bound to ``host:port`` answers.

    The loopback names always; the bound address when it is a specific one; each
    ``--allow-host`` name with or without the port. Port 80 may be left out, as browsers do.
    """
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host not in ("0.0.0.0", "::", ""):
        names.add(host_names(host))
    names.update(host_names(n) for n in extra)
    accepted = {f"{n}:{port}" for n in names}
    if port == 80:
        accepted |= names
    return frozenset(accepted)


class HostGuard:
    """WSGI middleware: 421 for a Host header the server was not bound for, and the
    ``Server`` header (without the version of anything)."""

    def __init__(self, app: WsgiApp, accepted: frozenset[str]) -> None:
        self.app, self.accepted = app, accepted

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST", "")).strip().lower()
        if host in self.accepted:

            def named(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                return start_response(status, [*headers, ("Server", SERVER_NAME)], *exc)

            return self.app(environ, named)
        body = (
            f"421 Misdirected Request: this dashboard does not answer for Host {host!r}.\n"
            "Open it as http://127.0.0.1:PORT/ or start it with --allow-host NAME.\n"
        ).encode()
        start_response(
            "421 Misdirected Request",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
             ("Cache-Control", "no-store"), *SECURITY_HEADERS, ("Server", SERVER_NAME)],
        )  # fmt: skip
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


class Dashboard:
    """A running dashboard: ``start()`` returns its URL, ``stop()`` shuts it down."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        allow_hosts: Sequence[str] = (),
    ) -> None:
        self.app, self.host, self.port = app, host, port
        self.allow_hosts = tuple(allow_hosts)
        for name in self.allow_hosts:  # a bad name fails before anything listens
            host_names(name)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        try:
            server_class = _V6Server if ":" in self.host else _PooledServer
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
        accepted = allowed_hosts(self.host, self.port, self.allow_hosts)
        self._server.set_app(HostGuard(self.app, accepted))
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
