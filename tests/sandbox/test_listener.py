"""Passthrough to a real target, CA-name advertising, keep-alive, silent clients, load, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote

import pytest
from cryptography import x509

from mtls_doctor.pki.scenarios import ScenarioSet
from tests.sandbox.clients import REQUEST, log_lines, openssl_client, python_client
from tests.sandbox.conftest import StartSandbox


class _Target(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Target.seen.append(dict(self.headers.items()))
        body = b'{"target": true}'
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    _Target.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_passthrough_forwards_the_chain(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, target: str
) -> None:
    sandbox = start_sandbox(mode="passthrough", trust_store=None, crls=(), target=target)
    scenario = scenario_pki.scenario("success-intermediate")
    outcome = python_client(sandbox.port, scenario_pki, scenario)
    assert outcome.status == 201 and outcome.json() == {"target": True}
    (headers,) = _Target.seen
    chain = x509.load_pem_x509_certificates(unquote(headers["X-Amzn-Mtls-Clientcert"]).encode())
    sent = x509.load_pem_x509_certificates(scenario_pki.path(scenario.chain or "").read_bytes())
    assert chain == sent  # leaf first, intermediate next, decoded by the target
    assert "X-Amzn-Mtls-Clientcert-Subject" not in headers  # the forged one was stripped
    assert headers["X-Forwarded-For"] == "127.0.0.1"


def test_passthrough_does_not_verify_but_verify_mode_does(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, target: str
) -> None:
    untrusted = scenario_pki.scenario("untrusted")
    passthrough = start_sandbox(mode="passthrough", trust_store=None, crls=(), target=target)
    assert python_client(passthrough.port, scenario_pki, untrusted).status == 201
    verify = start_sandbox(target=target)
    assert python_client(verify.port, scenario_pki, untrusted).status is None
    assert len(_Target.seen) == 1


def test_target_down_gives_502(scenario_pki: ScenarioSet, start_sandbox: StartSandbox) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    sandbox = start_sandbox(target=f"http://127.0.0.1:{port}")
    assert (
        python_client(sandbox.port, scenario_pki, scenario_pki.scenario("success-root")).status
        == 502
    )


def test_advertise_ca_names(scenario_pki: ScenarioSet, start_sandbox: StartSandbox) -> None:
    scenario = scenario_pki.scenario("success-root")
    on = start_sandbox(advertise_ca_names=True)
    off = start_sandbox()
    text_on = _s_client_text(on.port, scenario_pki)
    text_off = _s_client_text(off.port, scenario_pki)
    assert "Acceptable client certificate CA names" in text_on
    assert "CN = mtls-doctor root CA" in text_on.split("Acceptable client certificate CA names")[1]
    assert "No client certificate CA names sent" in text_off
    assert openssl_client(on.port, scenario_pki, scenario).status == 200


def _s_client_text(port: int, pki: ScenarioSet) -> str:
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-tls1_2",
            "-CAfile",
            str(pki.path(pki.root_ca)),
        ],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.stdout.decode(errors="replace")


def test_keep_alive_is_one_connection_one_line(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox(log_dir=tmp_path / "ka")
    one = b"GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    outcome = python_client(
        sandbox.port,
        scenario_pki,
        scenario_pki.scenario("success-root"),
        request=one + one + REQUEST,
    )
    assert outcome.status == 200
    sandbox.stop()
    assert len(log_lines(tmp_path / "ka")) == 1


def test_silent_client_is_timed_out_and_does_not_block(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox(log_dir=tmp_path / "silent", handshake_timeout=1.0)
    with socket.create_connection(("127.0.0.1", sandbox.port)) as silent:
        started = time.monotonic()
        good = python_client(sandbox.port, scenario_pki, scenario_pki.scenario("success-root"))
        assert good.status == 200 and time.monotonic() - started < 1.0
        silent.settimeout(5)
        assert silent.recv(1) == b""  # dropped by the sandbox after the timeout
    sandbox.stop()
    statuses = sorted(line.split(" ")[10] for line in log_lines(tmp_path / "silent"))
    assert statuses == ["Failed:UnmappedConnectionError", "Success"]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_load_500_connections(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox(log_dir=tmp_path / "load")
    names = ["success-root", "success-intermediate", "expired", "untrusted", "no-certificate"]
    scenarios = [scenario_pki.scenario(names[i % len(names)]) for i in range(500)]
    python_client(sandbox.port, scenario_pki, scenarios[0])  # warm up before counting fds
    time.sleep(0.2)
    before = _open_fds()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda s: python_client(sandbox.port, scenario_pki, s), scenarios))
    assert time.monotonic() - started < 60
    deadline = time.monotonic() + 5
    while sandbox.active_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() <= before + 2
    assert sum(o.status == 200 for o in outcomes) == 200
    summary = sandbox.stop()
    assert summary.lines_written == 501
    assert len(log_lines(tmp_path / "load")) == 501


@pytest.mark.slow
def test_sigterm_mid_load_loses_no_finished_connection(
    scenario_pki: ScenarioSet, tmp_path: Path
) -> None:
    log_dir = tmp_path / "sigterm"
    pki = scenario_pki
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtls_doctor",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--log-dir",
            str(log_dir),
            "--trust-store",
            str(pki.path(pki.trust_store)),
            "--crl",
            str(pki.path(pki.crls[0])),
            "--server-cert",
            str(pki.path(pki.server_cert)),
            "--server-key",
            str(pki.path(pki.server_key)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        port = int(url.rsplit(":", 1)[1].strip("/"))
        finished: list[int] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            scenario = pki.scenario("success-root" if i % 2 else "expired")
            outcome = python_client(port, pki, scenario)
            # Finished = the server answered, or the client completed its handshake (a server
            # that never accepted the connection cannot have sent its ServerHello).
            if outcome.status == 200 or outcome.handshake_done:
                with lock:
                    finished.append(outcome.local_port or 0)

        with ThreadPoolExecutor(max_workers=20) as pool:
            futures = [pool.submit(one, i) for i in range(300)]
            while len(finished) < 60:
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            for future in futures:
                future.result()
        assert proc.wait(timeout=30) == 130  # stopped, as documented for Ctrl-C/SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    logged_ports = {int(line.split(" ")[2]) for line in log_lines(log_dir)}
    good = [p for p in finished if p]
    assert len(good) >= 60
    assert set(good) <= logged_ports


def test_temporary_server_certificate(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    sandbox = start_sandbox(server_cert=None, server_key=None)
    assert sandbox.temporary_server_cert and sandbox.server_certificate is not None
    from cryptography.hazmat.primitives.serialization import Encoding

    cafile = tmp_path / "temp-ca.pem"
    cafile.write_bytes(sandbox.server_certificate.public_bytes(Encoding.PEM))
    context = ssl.create_default_context(cafile=str(cafile))
    scenario = scenario_pki.scenario("success-root")
    context.load_cert_chain(
        scenario_pki.path(scenario.chain or ""), scenario_pki.path(scenario.key or "")
    )
    with (
        socket.create_connection(("127.0.0.1", sandbox.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(REQUEST)
        assert tls.recv(12) == b"HTTP/1.1 200"
    assert json.loads(json.dumps(sandbox.statuses())) == {"Success": 1}
