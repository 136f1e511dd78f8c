"""Just enough HTTP/1.1 for the sandbox: read requests (keep-alive, Content-Length or chunked
bodies), forward them to a target or echo them, and write responses."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from mtls_doctor.sandbox.headers import Header

MAX_HEADER_BYTES = 64 * 1024  # the ALB's "entire request header" limit (spec §3.1)
# Per-hop headers (RFC 9110 §7.6.1) are not forwarded.
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
    )
)

Recv = Callable[[int], bytes]  # returns b"" at end of stream; raises on timeout


class HttpError(Exception):
    """A request we refuse; answered with ``status`` and the connection is closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: tuple[Header, ...]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("Connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: tuple[Header, ...]
    body: bytes

    def render(self, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [
            f"{n}: {v}"
            for n, v in self.headers
            if n.lower() not in HOP_BY_HOP and n.lower() != "content-length"
        ]
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: " + ("keep-alive" if keep_alive else "close"))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class RequestReader:
    """Reads successive requests from one connection (bytes left over are kept)."""

    def __init__(self, recv: Recv, max_body: int) -> None:
        self._recv = recv
        self._buffer = b""
        self._max_body = max_body

    def _fill(self) -> bool:
        chunk = self._recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _read_until(self, marker: bytes, limit: int) -> bytes | None:
        while marker not in self._buffer:
            if len(self._buffer) > limit:
                raise HttpError(431, "Request Header Fields Too Large")
            if not self._fill():
                if self._buffer:
                    raise HttpError(400, "Bad Request")
                return None
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise HttpError(400, "Bad Request")
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read(self) -> Request | None:
        """The next request, or ``None`` when the client closed between requests."""
        head = self._read_until(b"\r\n\r\n", MAX_HEADER_BYTES)
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "Bad Request")
        headers: list[Header] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, "Bad Request")
            headers.append((name, value.strip()))
        request = Request(parts[0], parts[1], parts[2], tuple(headers), b"")
        return replace(request, body=self._body(request))

    def _body(self, request: Request) -> bytes:
        if (request.header("Transfer-Encoding") or "").lower() == "chunked":
            return self._chunked()
        length = request.header("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            raise HttpError(400, "Bad Request")
        if int(length) > self._max_body:
            raise HttpError(413, "Content Too Large")
        return self._read_exact(int(length))

    def _chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self._read_until(b"\r\n", 1024)
            try:
                size = int((size_line or b"").split(b";")[0], 16)
            except ValueError:
                raise HttpError(400, "Bad Request") from None
            if size == 0:
                while self._read_until(b"\r\n", MAX_HEADER_BYTES):  # trailers, ignored
                    pass
                return body
            body += self._read_exact(size)
            self._read_exact(2)
            if len(body) > self._max_body:
                raise HttpError(413, "Content Too Large")


def error_response(status: int, reason: str) -> Response:
    return Response(status, reason, (("Content-Type", "text/plain"),), f"{reason}\n".encode())


def forward_headers(
    request: Request, added: Sequence[Header], client_ip: str, port: int
) -> list[Header]:
    """The request's end-to-end headers plus the ALB's additions."""
    kept = [(n, v) for n, v in request.headers if n.lower() not in HOP_BY_HOP]
    return [
        *kept,
        ("X-Forwarded-For", client_ip),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", str(port)),
        *added,
    ]


def echo(request: Request, headers: Sequence[Header], extra: dict[str, object]) -> Response:
    """No target: a 200 with the headers we would have forwarded, as JSON."""
    payload = {
        "schema_version": 1,
        "method": request.method,
        "path": request.target,
        "headers": dict(headers),
        **extra,
    }
    body = (json.dumps(payload, indent=2) + "\n").encode()
    return Response(200, "OK", (("Content-Type", "application/json"),), body)


def forward(target: str, request: Request, headers: Sequence[Header], timeout: float) -> Response:
    """Send ``request`` to the target and return its answer; 502 if the target fails (as the
    ALB does). An https target's certificate is not checked: it is a local test target."""
    parts = urlsplit(target)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    path = parts.path.rstrip("/") + request.target
    try:
        conn.putrequest(request.method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(request.body)))
        conn.endheaders(request.body or None)
        answer = conn.getresponse()
        body = answer.read()
        kept = tuple((n, v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP)
        return Response(answer.status, answer.reason, kept, body)
    except (OSError, http.client.HTTPException):
        return error_response(502, "Bad Gateway")
    finally:
        conn.close()
