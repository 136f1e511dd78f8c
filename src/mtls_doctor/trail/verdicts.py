"""``--certs``: do the failing clients' certificates pass the previous bundle and fail the new?

Each chain is run through the verdict engine (:func:`mtls_doctor.pki.verdict.check_chain`)
against the bundle before and after the change, at the change point, without CRLs (the
question is the bundle alone). A client that succeeds before and fails after is proof that
the bundle change broke it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from mtls_doctor.knowledge.codes import SUCCESS
from mtls_doctor.pki.verdict import TrustStore, check_chain


@dataclass(frozen=True)
class ClientChain:
    """A failing client's certificate chain from ``--certs``, leaf first."""

    serial: str  # as the log writes it
    file: str
    ders: tuple[bytes, ...]


def compare_bundles(
    chains: Sequence[ClientChain],
    before: Sequence[x509.Certificate],
    after: Sequence[x509.Certificate],
    at: datetime,
    ignore_expiry: bool = False,
) -> list[dict[str, Any]]:
    """One row per chain: its verdict with each bundle, and whether only the new one rejects."""
    old, new = TrustStore(tuple(before)), TrustStore(tuple(after))
    rows = []
    for chain in chains:
        was = check_chain(chain.ders, old, at=at, ignore_expiry=ignore_expiry).verdict
        now = check_chain(chain.ders, new, at=at, ignore_expiry=ignore_expiry).verdict
        rows.append(
            {
                "serial": chain.serial,
                "certificate_file": chain.file,
                "previous_bundle": was,
                "new_bundle": now,
                "only_new_rejects": was == SUCCESS and now != SUCCESS,
            }
        )
    return rows
