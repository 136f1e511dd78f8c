"""The three real clients of the tests: Python ``ssl``, ``curl`` and ``openssl s_client``.

Each returns a :class:`Outcome`: the HTTP status line's code (``None`` when the connection
was refused or closed without HTTP) and the response body.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mtls_doctor.pki.scenarios import Scenario, ScenarioSet

REQUEST = (
    b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
    b"X-Amzn-Mtls-Clientcert-Subject: CN=forged\r\nConnection: close\r\n\r\n"
)


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: bytes
    local_port: int | None = None
    handshake_done: bool = False  # the client finished its side of the TLS handshake

    def json(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def _parse_http(raw: bytes) -> tuple[int | None, bytes]:
    match = re.search(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n", raw)
    if not match:
        return None, b""
    _, _, body = raw[match.start() :].partition(b"\r\n\r\n")
    return int(match.group(1)), body


def python_client(
    port: int, pki: ScenarioSet, scenario: Scenario, request: bytes = REQUEST
) -> Outcome:
    context = ssl.create_default_context(cafile=str(pki.path(pki.root_ca)))
    if scenario.chain and scenario.key:
        context.load_cert_chain(pki.path(scenario.chain), pki.path(scenario.key))
    raw = b""
    local_port = None
    done = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            local_port = sock.getsockname()[1]
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                done = True
                tls.sendall(request)
                while chunk := tls.recv(65536):
                    raw += chunk
    except (ssl.SSLError, ConnectionError, TimeoutError):
        pass
    return Outcome(*_parse_http(raw), local_port=local_port, handshake_done=done)


def curl_client(port: int, pki: ScenarioSet, scenario: Scenario) -> Outcome:
    args = [
        shutil.which("curl") or "curl",
        "-sS",
        "--max-time",
        "10",
        "--http1.1",
        "--cacert",
        str(pki.path(pki.root_ca)),
        "-H",
        "X-Amzn-Mtls-Clientcert-Subject: forged",
        "-w",
        "\n%{http_code}",
    ]
    if scenario.chain and scenario.key:
        args += ["--cert", str(pki.path(scenario.chain)), "--key", str(pki.path(scenario.key))]
    done = subprocess.run(
        [*args, f"https://localhost:{port}/hello"], capture_output=True, timeout=30, check=False
    )
    body, _, code = done.stdout.rpartition(b"\n")
    status = int(code) if code.strip().isdigit() and int(code) else None
    return Outcome(status, body)


def openssl_client(
    port: int, pki: ScenarioSet, scenario: Scenario, extra: tuple[str, ...] = ()
) -> Outcome:
    args = [
        shutil.which("openssl") or "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-CAfile",
        str(pki.path(pki.root_ca)),
        "-quiet",
        "-ign_eof",
        *extra,
    ]
    if scenario.cert and scenario.key:
        args += ["-cert", str(pki.path(scenario.cert)), "-key", str(pki.path(scenario.key))]
    if scenario.intermediates:
        args += ["-cert_chain", str(pki.path(scenario.intermediates))]
    done = subprocess.run(args, input=REQUEST, capture_output=True, timeout=30, check=False)
    return Outcome(*_parse_http(done.stdout))


CLIENTS = {"python": python_client, "curl": curl_client, "openssl": openssl_client}


def log_lines(log_dir: Path) -> list[str]:
    """Every line of every delivered connection-log file under ``log_dir``."""
    lines: list[str] = []
    for path in sorted(log_dir.rglob("conn_log_*.log.gz")):
        with gzip.open(path, "rt") as handle:
            lines.extend(handle.read().splitlines())
    return lines
