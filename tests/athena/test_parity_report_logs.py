"""``report`` and ``logs query`` on the Athena path give the local engine's numbers and rows.

Same stand-in as test_parity.py: the DDL's regex makes the table, every query is rendered to
Trino SQL, parsed as Trino, transpiled back to DuckDB and run; array columns travel as JSON
text, as they do from Athena. The local side reads the same lines as files (and, for the
order of counts, from an ingested store, which runs the same count query).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mtls_doctor.athena.dialect import DayRange
from mtls_doctor.athena.target import AthenaTarget, count_rows, select_rows
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.overview import overview
from mtls_doctor.diagnose.target import Scope, open_target, resolve_candidates
from mtls_doctor.logs.api import export_row, open_selection
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters
from mtls_doctor.report.html import render_html
from tests.athena.fakeathena import LOCATION, TABLE, DuckRunner, load_table
from tests.athena.test_parity import FILTERS, athena_tables
from tests.diagnose.corpus import NOW

Corpus = dict[str, list[str]]


def _files(tmp_path: Path, corpus: Corpus) -> list[str]:
    paths = []
    for key, lines in corpus.items():
        if "conn_log" not in key:
            continue
        path = tmp_path / "local" / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        paths.append(str(path))
    return paths


@contextmanager
def _athena(corpus: Corpus, filters: Filters) -> Iterator[tuple[AthenaTarget, DuckRunner]]:
    con = duckdb.connect()
    load_table(con, corpus)
    runner = DuckRunner(con)
    yield AthenaTarget(runner, TABLE, DayRange.around(filters.since, filters.until)), runner
    con.close()


def _without_malformed(corpus: Corpus) -> Corpus:
    """The local page lists malformed lines with their text; Athena can only count them."""
    return {k: [ln for ln in v if "not-a-port" not in ln] for k, v in corpus.items()}


def _local_report(tmp_path: Path, corpus: Corpus, filters: Filters) -> tuple[str, dict[str, Any]]:
    with open_target(_files(tmp_path, corpus), db=None, scope=Scope.of(filters, NOW)) as target:
        result = diagnose(target, filters, DiagnoseOptions(NOW))
        top = overview(target)
        return render_html(result, top, title="t"), top.to_dict()


def _athena_report(corpus: Corpus, filters: Filters) -> tuple[str, dict[str, Any], DuckRunner]:
    tables, runner = athena_tables(corpus, filters)
    asked = len(runner.sqls)
    selected = tables.prepared.scope.filters
    result = diagnose(tables, selected, DiagnoseOptions(NOW))
    top = overview(tables)
    assert len(runner.sqls) == asked, "the report asked Athena after the prepared tables"
    return render_html(result, top, title="t"), top.to_dict(), runner


# Every filter set, IPv6 included, is checked for the diagnosis in test_parity.py.
REPORT_FILTERS = [FILTERS[i] for i in (0, 1, 4, 5)]


@pytest.mark.parametrize("filters", REPORT_FILTERS, ids=range(len(REPORT_FILTERS)))
def test_report_page_is_the_local_page(
    tmp_path: Path,
    corpus: Corpus,
    filters: Filters,
) -> None:
    clean = _without_malformed(corpus)
    local_page, local_top = _local_report(tmp_path, clean, filters)
    athena_page, athena_top, runner = _athena_report(clean, filters)
    assert athena_top == local_top
    assert athena_page == local_page
    # The overview is asked of the prepared tables: the report reads the partitions once
    # (twice with an IPv6 block).
    assert runner.scans == len(runner.sqls) == (2 if filters.needs_candidates() else 1)


def test_report_overview_has_numbers_and_a_near_miss_differs(
    tmp_path: Path,
    corpus: Corpus,
) -> None:
    clean = _without_malformed(corpus)
    page, top = _local_report(tmp_path, clean, Filters())
    assert top["top_clients"] and top["top_certificates"][0]["codes"]
    # Near miss: one failed line fewer on the Athena side must change the page.
    fewer = {k: v[:-2] if "20240406" in k else v for k, v in clean.items()}
    athena_page, athena_top, _ = _athena_report(fewer, Filters())
    assert athena_top != top and athena_page != page


def _key(row: dict[str, Any]) -> dict[str, Any]:
    """Local rows name the file read; Athena rows the object's s3:// URI: compare the key."""
    source = str(row["source_file"])
    key = source[len(LOCATION) :] if source.startswith(LOCATION) else source.split("/local/")[1]
    return {**row, "source_file": key}


def _order(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in row.values())


def _local_rows(tmp_path: Path, corpus: Corpus, filters: Filters, limit: int | None) -> list[Any]:
    with open_selection(_files(tmp_path, corpus)) as sel:
        return [_key(export_row(r)) for r in sel.iter_rows(filters, limit=limit)]


def _athena_rows(corpus: Corpus, filters: Filters, limit: int | None) -> list[Any]:
    with _athena(corpus, filters) as (target, runner):
        rows = select_rows(target, resolve_candidates(target, filters), limit=limit)
        assert len(runner.sqls) == (2 if filters.needs_candidates() else 1)
        return [_key(r) for r in rows]


@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_logs_query_rows_are_the_local_rows(
    tmp_path: Path,
    corpus: Corpus,
    filters: Filters,
) -> None:
    local = _local_rows(tmp_path, corpus, filters, None)
    athena = _athena_rows(corpus, filters, None)
    assert sorted(athena, key=_order) == sorted(local, key=_order)
    assert len(athena) == 90 if filters == Filters() else len(athena) < 90
    # Oldest first on both sides (the local engine leaves ties in any order).
    assert [r["timestamp"] for r in athena] == [r["timestamp"] for r in local]


@pytest.mark.parametrize("limit", [0, 1, 7, 60])
def test_logs_query_limit(
    tmp_path: Path,
    corpus: Corpus,
    limit: int,
) -> None:
    everything = _local_rows(tmp_path, corpus, Filters(), None)
    local = _local_rows(tmp_path, corpus, Filters(), limit)
    athena = _athena_rows(corpus, Filters(), limit)
    assert len(athena) == len(local) == limit
    assert [r["timestamp"] for r in athena] == [r["timestamp"] for r in local]
    assert all(r in everything for r in athena)


COUNT_BY = [
    ("tls_verify_status",),
    ("client_ip", "error_code"),
    ("leaf_client_cert_serial_number", "serial_key", "not_after"),
    ("field_count", "listener_port", "tls_protocol"),
    ("verify_result", "tls_handshake_latency"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    tmp_path = tmp_path_factory.mktemp("store")
    db = tmp_path / "store.duckdb"
    ingest_inputs(_files(tmp_path, corpus), db)
    return db


@pytest.mark.parametrize("filters", FILTERS[:5], ids=range(5))
def test_logs_query_counts_are_the_local_counts(
    tmp_path: Path, corpus: Corpus, store: Path, filters: Filters
) -> None:
    with (
        _athena(corpus, filters) as (target, _),
        open_selection([], db=store) as stored,
        open_selection(_files(tmp_path, corpus)) as files,
    ):
        selected = resolve_candidates(target, filters)
        for columns in COUNT_BY:
            athena = count_rows(target, selected, columns).to_dicts()
            # The store runs the same count query: the same order too.
            assert athena == stored.count_by(filters, columns).to_dicts(), columns
            local = files.count_by(filters, columns).to_dicts()
            assert sorted(athena, key=_order) == sorted(local, key=_order), columns


def test_count_by_source_file_names_the_object(corpus: Corpus) -> None:
    with _athena(corpus, Filters()) as (target, _):
        counts = count_rows(target, Filters(), ["source_file"]).to_dicts()
    assert [c["count"] for c in counts] == [84, 6]  # the second object has a malformed line
    assert all(str(c["source_file"]).startswith(LOCATION) for c in counts)


def test_counts_near_miss(corpus: Corpus, store: Path) -> None:
    """One line fewer on the Athena side must not compare equal."""
    fewer = {k: v[:-1] if "20240406" in k else v for k, v in corpus.items()}
    with _athena(fewer, Filters()) as (target, _):
        athena = count_rows(target, Filters(), ["tls_verify_status"]).to_dicts()
    with open_selection([], db=store) as sel:
        assert sel.count_by(Filters(), ["tls_verify_status"]).to_dicts() != athena
