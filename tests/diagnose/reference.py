"""The reference answer for the differential tests: the engine's questions asked of every
row (``RowsSource``, ``ROW_SHAPE``), read into one table, against which every source's
prepared tables (compiled scanner, pure reader, store) must give the same diagnosis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from mtls_doctor import duck
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.source import RowsSource, Scope, resolve_candidates
from mtls_doctor.diagnose.target import open_target
from mtls_doctor.logs.api import ReadStats
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.reader import FileSet
from mtls_doctor.logs.sources import expand_inputs, make_workdir


class EveryRow:
    """Every well-formed row of some files, in one DuckDB table."""

    relation = "every_row"

    def __init__(self, con: duckdb.DuckDBPyConnection, stats: ReadStats) -> None:
        self.con, self.stats = con, stats

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or {}).fetchall()


@contextmanager
def every_row(inputs: list[str], stats: ReadStats) -> Iterator[EveryRow]:
    workdir = make_workdir()
    con = duck.connect()
    try:
        scan = expand_inputs(inputs, workdir=workdir)
        fileset = FileSet(scan.sources, workdir, scan.unreadable)
        fileset.run(
            con,
            lambda rel: f"CREATE TABLE every_row AS SELECT * FROM {rel} WHERE error IS NULL",
            lambda c: None,
        )
        yield EveryRow(con, stats)
    finally:
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)


def reference(
    inputs: list[str], filters: Filters, options: DiagnoseOptions, stats: ReadStats
) -> dict[str, Any]:
    """The diagnosis of every row (read statistics: ``stats``, those of a prepared read)."""
    with every_row(inputs, stats) as rows:
        selected = resolve_candidates(rows, filters)
        source = RowsSource(rows, Scope.of(selected, options.now, options.warn_days))
        return diagnose(source, selected, options).to_dict()


def prepared(
    inputs: list[str], filters: Filters, options: DiagnoseOptions, *, db: Any = None
) -> tuple[dict[str, Any], ReadStats]:
    """The diagnosis from a source's prepared tables, with its row count and statistics."""
    scope = Scope.of(filters, options.now, options.warn_days)
    with open_target(inputs, db=db, scope=scope) as target:
        out = diagnose(target, filters, options).to_dict()
        out["rows"], out["stats"] = target.stats.rows, target.stats.to_dict()
        return out, target.stats
