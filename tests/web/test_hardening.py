"""The dashboard under load and attack, over real HTTP on 127.0.0.1 (issue #19 items 1-3)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtls_doctor.web.server import Dashboard
from tests.web.conftest import make_app


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send(port: int, request: bytes, timeout: float = 30.0) -> Answer:
    """One raw HTTP request, so that the Host header and the method are exactly ours."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return Answer(int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body)


def get(port: int, target: str, host: str | None = None, method: str = "GET") -> Answer:
    host_line = "" if host == "" else f"Host: {host or f'127.0.0.1:{port}'}\r\n"
    return send(
        port, f"{method} {target} HTTP/1.1\r\n{host_line}Connection: close\r\n\r\n".encode()
    )


@pytest.fixture(scope="module")
def port(store_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    app = make_app(store_db, tmp_path_factory.mktemp("hardening"))
    with Dashboard(app, "127.0.0.1", 0) as dashboard:
        yield dashboard.port


# --- 1. a burst ----------------------------------------------------------------------------


def test_a_burst_of_200_requests_is_all_answered(port: int) -> None:
    # All 200 connect at once. With socketserver's backlog of 5 the kernel dropped most SYNs
    # and clients waited out retransmits (1, 3, 7 ... 63 s): many connects took over 5 s.
    start = threading.Barrier(200, timeout=30)
    results: list[object] = []

    def one() -> None:
        start.wait()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.settimeout(180)
                sock.sendall(
                    f"GET /api/overview HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                )
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            results.append(int(data.split(b" ", 2)[1]))
        except OSError as error:
            results.append(repr(error))

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 200


# --- 2. DNS rebinding, headers, HEAD ---------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "LocalHost:{port}"])  # fmt: skip
def test_loopback_host_names_are_answered(port: int, host: str) -> None:
    assert get(port, "/api/overview", host.format(port=port)).status == 200


@pytest.mark.parametrize(
    "host",
    ["attacker.example:{port}", "attacker.example", "127.0.0.1", "127.0.0.1:1",
     "localhost.attacker.example:{port}", "127.0.0.1:{port}@attacker.example", ""],
)  # fmt: skip
def test_a_foreign_host_is_refused(port: int, host: str) -> None:
    answer = get(port, "/api/overview", host.format(port=port))
    assert answer.status == 421
    assert b"connections" not in answer.body and b"--allow-host" in answer.body


def test_allow_host_admits_a_deliberate_name(store_db: Path, tmp_path: Path) -> None:
    app = make_app(store_db, tmp_path)
    with Dashboard(app, "127.0.0.1", 0, allow_hosts=["Dash.Internal", "::1"]) as dash:
        assert get(dash.port, "/api/overview", f"dash.internal:{dash.port}").status == 200
        assert get(dash.port, "/api/overview", f"[::1]:{dash.port}").status == 200
        assert get(dash.port, "/api/overview", f"other.internal:{dash.port}").status == 421


@pytest.mark.parametrize("target", ["/", "/api/overview", "/api/connections?page=0", "/nothing"])
def test_every_answer_carries_the_security_headers(port: int, target: str) -> None:
    answer = get(port, target)
    assert answer.status in (200, 400, 404)
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["server"] == "mtls-doctor"


def test_the_server_header_names_no_python_even_on_a_broken_request(port: int) -> None:
    answer = send(port, b"GET / HTTP/1.1\r\nX-Long: " + b"x" * 70000 + b"\r\n\r\n")
    assert answer.status == 431  # answered by http.server, before the application
    assert "python" not in answer.headers["server"].lower()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nX-Long: " + b"x" * 70000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_the_standard_librarys_own_errors_carry_the_security_headers(
    port: int, request_bytes: bytes, status: int
) -> None:
    answer = send(port, request_bytes)
    assert answer.status == status
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("target", ["/", "/api/overview", "/api/connections.csv", "/nothing"])
def test_head_sends_the_headers_and_no_body(port: int, target: str) -> None:
    full = get(port, target)
    head = get(port, target, method="HEAD")
    assert head.status == full.status and head.body == b""
    assert head.headers["content-type"] == full.headers["content-type"]
    if "content-length" in full.headers:
        assert head.headers["content-length"] == full.headers["content-length"]
        assert int(full.headers["content-length"]) == len(full.body)


def test_other_methods_get_405_with_allow(port: int) -> None:
    answer = get(port, "/api/overview", method="DELETE")
    assert answer.status == 405 and answer.headers["allow"] == "GET, HEAD"


# --- 3. odd numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["listener_port=%C2%B2", "page=%C2%B2", "per_page=%C2%B9", "page=" + "9" * 5000,
     "page=1" + "0" * 5000, "listener_port=%D9%A3", "page=%EF%BC%91", "page=%2B1", "page=1_0",
     "page=0x10", "page=1e3", "page=-1", "page=0", "per_page=501", "listener_port=65536"],
)  # fmt: skip
def test_odd_numbers_get_400_not_500(port: int, query: str) -> None:
    answer = get(port, f"/api/connections?{query}")
    assert answer.status == 400 and b"must be a whole number" in answer.body


def test_leading_zeros_are_still_the_number(port: int) -> None:
    assert get(port, "/api/connections?page=" + "0" * 5000 + "1").status == 200
