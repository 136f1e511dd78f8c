"""Fixtures for the sandbox suite: one scenario PKI per session, sandboxes on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.pki.scenarios import ScenarioSet, build_scenarios
from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.server import Sandbox

StartSandbox = Callable[..., Sandbox]


@pytest.fixture(scope="session")
def scenario_pki(tmp_path_factory: pytest.TempPathFactory) -> ScenarioSet:
    return build_scenarios(tmp_path_factory.mktemp("pki"), at=datetime.now(UTC))


def sandbox_config(pki: ScenarioSet, log_dir: Path, **overrides: Any) -> SandboxConfig:
    config = SandboxConfig(
        log_dir=log_dir,
        trust_store=pki.path(pki.trust_store),
        crls=tuple(pki.path(c) for c in pki.crls),
        port=0,
        server_cert=pki.path(pki.server_cert),
        server_key=pki.path(pki.server_key),
        drain_seconds=2.0,
        handshake_timeout=5.0,
        idle_timeout=5.0,
    )
    return replace(config, **overrides)


@pytest.fixture
def start_sandbox(scenario_pki: ScenarioSet, tmp_path: Path) -> Iterator[StartSandbox]:
    """Start sandboxes in-process; every one is stopped at teardown."""
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        overrides.setdefault("log_dir", tmp_path / f"logs{len(started)}")
        sandbox = Sandbox(sandbox_config(scenario_pki, **overrides))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()
