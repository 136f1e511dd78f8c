"""Fixtures for the probe suite: one scenario PKI per session, sandboxes on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.pki.scenarios import ScenarioSet, build_scenarios
from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.server import Sandbox

NOW = datetime.now(UTC)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSet:
    return build_scenarios(tmp_path_factory.mktemp("probe-pki"), at=NOW)


@pytest.fixture
def sandbox(pki: ScenarioSet, tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    """Start an ALB-like sandbox in-process (verify mode, the scenario trust store)."""
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        settings: dict[str, Any] = {
            "log_dir": tmp_path / f"logs{len(started)}",
            "trust_store": pki.path(pki.trust_store),
            "port": 0,
            "server_cert": pki.path(pki.server_cert),
            "server_key": pki.path(pki.server_key),
            "drain_seconds": 1.0,
            "handshake_timeout": 5.0,
            "idle_timeout": 5.0,
        }
        settings.update(overrides)
        box = Sandbox(SandboxConfig(**settings))
        box.start()
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()
