"""The dashboard over a real socket on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mtls_doctor.errors import NetworkError
from mtls_doctor.web.server import Dashboard, is_loopback
from tests.web.conftest import make_app


def test_serves_pages_and_stops(store_db: Path, tmp_path: Path) -> None:
    dashboard = Dashboard(make_app(store_db, tmp_path), "127.0.0.1", 0)
    url = dashboard.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/overview", timeout=10) as response:
            assert json.load(response)["diagnosis"]["summary"]["connections"] == 500
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(url + "api/connections?page=-1", timeout=10)
        assert bad.value.code == 400
    finally:
        dashboard.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_port_in_use_is_a_network_error(store_db: Path, tmp_path: Path) -> None:
    with (
        Dashboard(make_app(store_db, tmp_path), "127.0.0.1", 0) as first,
        pytest.raises(NetworkError),
    ):
        Dashboard(make_app(store_db, tmp_path), "127.0.0.1", first.port).start()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.4", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
