"""Shared fixtures for the pki suite (builders live in pkihelpers.py)."""

from __future__ import annotations

import pytest

from tests.pki.pkihelpers import StandardPki


@pytest.fixture(scope="session")
def pki() -> StandardPki:
    return StandardPki.build()
