"""Shared, generic test helpers (keep small: area fixtures live next to their tests)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest


def write_log(path: Path, lines: list[str] | bytes, *, gz: bool = False) -> Path:
    """Write log lines (or raw bytes) to ``path``, gzip-compressed when ``gz``."""
    data = lines if isinstance(lines, bytes) else "".join(x + "\n" for x in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mtls-doctor demo`` once per test session: the data the docs' examples run on."""
    from mtls_doctor.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "demo-out"
    run_demo(out)
    return out
