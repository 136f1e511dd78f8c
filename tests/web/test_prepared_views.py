"""The dashboard's client and certificate pages count from a store read for that page
(the prepared ``PRESENTED`` table): the same numbers as every row of the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mtls_doctor.diagnose.target import StoreRows
from mtls_doctor.logs.store import Store
from mtls_doctor.timeutil import iso_z
from tests.web.conftest import Client


@contextmanager
def _rows(db: Path) -> Iterator[StoreRows]:
    # Opened between requests: the dashboard's snapshot copy needs the file to itself.
    store = Store.open_read_only(db)
    try:
        yield StoreRows(store)
    finally:
        store.close()


def _every_row(db: Path, keys: str, where: str, value: str) -> set[tuple[Any, ...]]:
    with _rows(db) as rows:
        found = rows.fetch(
            f"SELECT {keys}, tls_verify_status, count(*), min(timestamp), max(timestamp) "
            f"FROM connections WHERE {where} = $v GROUP BY ALL",
            {"v": value},
        )
    return {(*r[:-2], iso_z(r[-2]), iso_z(r[-1])) for r in found}


def test_a_clients_certificates_are_those_of_its_rows(client: Client, store_db: Path) -> None:
    ip = "198.51.100.10"
    _, data = client.json(f"/api/client/{ip}")
    shown = {
        (c["serial"], c["subject"], c["tls_verify_status"], c["count"], c["first_seen"],
         c["last_seen"])
        for c in data["certificates"]
    }  # fmt: skip
    keys = "leaf_client_cert_serial_number, leaf_client_cert_subject"
    assert shown == _every_row(store_db, keys, "client_ip", ip) and len(shown) >= 2


def test_a_certificates_clients_are_those_of_its_rows(client: Client, store_db: Path) -> None:
    with _rows(store_db) as rows:
        serial = rows.fetch(
            "SELECT serial_key FROM connections WHERE serial_key IS NOT NULL "
            "GROUP BY ALL ORDER BY count(DISTINCT client_ip) DESC, serial_key LIMIT 1"
        )[0][0]
    _, data = client.json(f"/api/cert/{serial}")
    shown = {
        (c["client_ip"], c["tls_verify_status"], c["count"], c["first_seen"], c["last_seen"])
        for c in data["clients"]
    }
    expected = _every_row(store_db, "client_ip", "serial_key", serial)
    assert shown == expected and len(shown) >= 1
