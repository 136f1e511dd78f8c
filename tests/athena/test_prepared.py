"""Athena's prepared tables are the local staging queries' (``diagnose/queries.py``
STATUS_MINUTES, FAILURE_GROUPS, EXPIRING_CLIENTS) on the same rows, from one scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.athena.dialect import DayRange, render
from mtls_doctor.athena.prepare import prepared_query
from mtls_doctor.diagnose.target import Scope, StoreTarget
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.store import Store
from tests.athena.fakeathena import TABLE, table_scans
from tests.athena.test_parity import FILTERS, athena_tables, write_files
from tests.diagnose.corpus import NOW

Corpus = dict[str, list[str]]
# Athena's table -> the store's staged table of the same query (StoreTarget._prepare).
TABLES = {
    "athena_counts": "diagnose_counts",
    "athena_failures": "diagnose_groups",
    "athena_expiring": "diagnose_expiring",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    tmp_path = tmp_path_factory.mktemp("store")
    db = tmp_path / "store.duckdb"
    ingest_inputs(write_files(tmp_path, corpus), db)
    return db


def _rows(fetch: Any, table: str) -> list[tuple[Any, ...]]:
    return sorted(fetch(f"SELECT * FROM {table}"), key=repr)


# Without the IPv6 block: the store resolves it against its own rows, the same addresses.
@pytest.mark.parametrize("filters", FILTERS[:5] + FILTERS[6:], ids=range(len(FILTERS) - 1))
def test_tables_are_the_staging_queries(corpus: Corpus, store: Path, filters: Filters) -> None:
    tables, runner = athena_tables(corpus, filters)
    scope = tables.prepared.scope
    local = Store.open_read_only(store)
    try:
        staged = StoreTarget(local, scope)
        for athena_name, local_name in TABLES.items():
            athena = _rows(tables.fetch, athena_name)
            assert athena == _rows(staged.fetch, local_name), athena_name
        if filters == Filters():  # not two empty tables
            assert all(_rows(tables.fetch, name) for name in TABLES)
        assert tables.stats.files == staged.stats.files == 2
    finally:
        local.close()
    assert runner.scans == 1


def test_a_near_miss_changes_the_tables(corpus: Corpus) -> None:
    tables, _ = athena_tables(corpus, Filters())
    fewer = {k: v[:-3] if "20240406" in k else v for k, v in corpus.items()}  # a failure
    other, _ = athena_tables(fewer, Filters())
    assert _rows(tables.fetch, "athena_failures") != _rows(other.fetch, "athena_failures")


def test_the_query_reads_the_table_once() -> None:
    scope = Scope.of(Filters(), NOW, 30)
    text = render(*prepared_query(TABLE, DayRange(), scope))
    assert table_scans(text) == 1
    assert "GROUPING SETS" in text


def test_scan_counter_counts_every_read() -> None:
    """The counter the tests rely on: a WITH query used twice, a self-join, a union."""
    assert table_scans(f"SELECT count(*) FROM {TABLE}") == 1
    assert table_scans(f"WITH a AS (SELECT * FROM {TABLE}) SELECT * FROM a, a AS b") == 2
    assert table_scans(f"SELECT 1 FROM {TABLE} UNION ALL SELECT 2 FROM {TABLE}") == 2
    assert table_scans("SELECT 1") == 0
