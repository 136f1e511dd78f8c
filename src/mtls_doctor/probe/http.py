"""Just enough HTTP/1.1 for one probe request: build it, and parse the answer as far as it came.

The ALB adds the ``X-Amzn-Mtls-*`` headers to the request it forwards to the target (spec
§4.3), not to its response. A probe sees them only when the target echoes them, as a response
header or inside a JSON body (the sandbox's echo target does the latter). UNCONFIRMED whether
any ALB setting returns them to the client; we report what is there and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mtls_doctor.errors import UsageError
from mtls_doctor.probe.model import HttpAnswer

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
_MTLS_PREFIX = "x-amzn-mtls-"
_AMZN_PREFIX = "x-amzn-"


def parse_request(text: str | None, default_path: str) -> tuple[str, str]:
    """``"GET /path"`` into (method, path); no text means GET and the URL's path."""
    if not text:
        return "GET", default_path
    parts = text.split()
    if len(parts) == 1 and parts[0].upper() in _METHODS:
        return parts[0].upper(), default_path
    if len(parts) != 2 or parts[0].upper() not in _METHODS or not parts[1].startswith("/"):
        raise UsageError(
            f"--request {text!r} is not 'METHOD /path'",
            hint=f"e.g. --request 'GET /health'; methods: {', '.join(_METHODS)}",
        )
    return parts[0].upper(), parts[1]


def build_request(method: str, path: str, host_header: str, user_agent: str) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host_header}",
        f"User-Agent: {user_agent}",
        "Accept: */*",
        "Connection: close",
    ]
    if method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class Parsed:
    answer: HttpAnswer | None
    complete: bool  # the whole body announced by Content-Length (or chunked end) is here


def _body_complete(headers: list[tuple[str, str]], body: bytes, method: str, status: int) -> bool:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return True
    values = {n.lower(): v for n, v in headers}
    if "chunked" in values.get("transfer-encoding", "").lower():
        return body.endswith(b"0\r\n\r\n")
    length = values.get("content-length", "")
    return length.isdigit() and len(body) >= int(length)


def parse_response(raw: bytes, method: str, max_body: int) -> Parsed:
    """The status line, headers and a body excerpt from ``raw`` (whatever was received)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return Parsed(None, False)
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2 or not first[0].startswith("HTTP/") or not first[1].isdigit():
        return Parsed(None, False)
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    status = int(first[1])
    answer = HttpAnswer(
        status=status,
        reason=first[2] if len(first) > 2 else "",
        headers=tuple(headers),
        body_excerpt=body[:max_body].decode("utf-8", "replace"),
        body_bytes=len(body),
        mtls_headers=tuple(_mtls_headers(headers, body)),
    )
    return Parsed(answer, _body_complete(headers, body, method, status))


def _mtls_headers(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    found = [(n, v) for n, v in headers if n.lower().startswith(_AMZN_PREFIX)]
    try:
        echoed = json.loads(body)
    except ValueError:
        return found
    inner = echoed.get("headers") if isinstance(echoed, dict) else None
    if isinstance(inner, dict):
        found += [
            (str(n), str(v)) for n, v in inner.items() if str(n).lower().startswith(_MTLS_PREFIX)
        ]
    return found
