"""A store with the fixed incident of :mod:`tests.web.logdata`, and the dashboard over it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from mtls_doctor.cli._options import build_filters
from mtls_doctor.web.app import DashboardApp
from mtls_doctor.web.source import StoreSource
from tests.web.logdata import NOW, make_store


@pytest.fixture(scope="session")
def store_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("store"))


class Client:
    """Calls the WSGI app in-process, the way a server would."""

    def __init__(self, app: DashboardApp) -> None:
        self.app = app

    def get(self, url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        path, _, query = url.partition("?")
        environ: dict[str, Any] = {
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "wsgi.input": io.BytesIO(),
        }
        setup_testing_defaults(environ)
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = status, dict(headers)

        body = b"".join(self.app(environ, start_response))
        return int(seen["status"].split()[0]), seen["headers"], body

    def json(self, url: str) -> tuple[int, dict[str, Any]]:
        status, headers, body = self.get(url)
        assert headers["Content-Type"] == "application/json"
        return status, json.loads(body)

    def html(self, url: str) -> tuple[int, str]:
        status, headers, body = self.get(url)
        assert headers["Content-Type"].startswith("text/html")
        return status, body.decode()


def make_app(db: Path, workdir: Path, **options: Any) -> DashboardApp:
    source = StoreSource(db, workdir, clock=lambda: NOW)
    return DashboardApp(source, build_filters, clock=lambda: NOW, **options)


@pytest.fixture
def client(store_db: Path, tmp_path: Path) -> Iterator[Client]:
    yield Client(make_app(store_db, tmp_path))
