"""A moto S3/ELBv2 server on 127.0.0.1 for the whole session, and AWS settings pointing at it.

Nothing here reaches beyond loopback: credentials are fake, instance metadata is disabled,
and every AWS client of mtls-doctor is sent to the moto server by ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.aws import session as aws_session

Hook = tuple[str, Callable[..., Any]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# One server per session even when another folder's tests reuse these fixtures.
_RUNNING: dict[str, str] = {}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "endpoint" in _RUNNING:
        yield _RUNNING["endpoint"]
        return
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(sys.executable).parent / "moto_server"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(server), "-p", str(port), "-H", "127.0.0.1"], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        _RUNNING["endpoint"] = f"http://127.0.0.1:{port}"
        yield _RUNNING["endpoint"]
    finally:
        _RUNNING.clear()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def aws_env(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials, region us-east-1, every client sent to a freshly reset moto."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "MTLS_DOCTOR_DB": str(tmp_path / "store.duckdb"),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture
def client_hooks(monkeypatch: pytest.MonkeyPatch) -> list[Hook]:
    """Append ``(event, handler)``: every client mtls-doctor makes gets them registered."""
    hooks: list[Hook] = []
    original = aws_session.new_client

    def new_client(service: str, **kwargs: Any) -> Any:
        client = original(service, **kwargs)
        for event, handler in hooks:
            client.meta.events.register(event, handler)
        return client

    monkeypatch.setattr(aws_session, "new_client", new_client)
    return hooks


@pytest.fixture
def s3(aws_env: str) -> Any:
    import boto3

    return boto3.client("s3", region_name="us-east-1")
