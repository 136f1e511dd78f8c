"""Where a diagnosis reads from: a store, or log files; each read once per :class:`Scope`.

:func:`open_target` gives a :class:`~.source.Source` holding the prepared tables of one
diagnosis, whatever the logs are: a store (:class:`StoreTarget`), or files, read by the
compiled scanner (:class:`~.stream.StreamTarget`) or by DuckDB alone
(:class:`~.stream.PureTarget`). Browsing a store's rows (the dashboard's connection pages)
is a view, not a diagnosis: :class:`StoreRows`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from mtls_doctor.diagnose import queries as q
from mtls_doctor.diagnose.source import (
    Prepared,
    Query,
    QueryTarget,
    Rows,
    Scope,
    Source,
    expiry_horizon,
    resolve_candidates,
)
from mtls_doctor.diagnose.stream import PureTarget, StreamTarget
from mtls_doctor.errors import StoreError
from mtls_doctor.logs import native
from mtls_doctor.logs.api import ReadStats, store_stats
from mtls_doctor.logs.reader import FileSet
from mtls_doctor.logs.sources import Opener, expand_inputs, make_workdir
from mtls_doctor.logs.store import Store

__all__ = [
    "Prepared",
    "QueryTarget",
    "Scope",
    "Source",
    "StoreRows",
    "StoreTarget",
    "expiry_horizon",
    "open_target",
    "resolve_candidates",
]


class StoreRows:
    """The rows of an ingested store, to browse (and to resolve a filter's candidates)."""

    relation = "connections"  # no source_file: skip the join with files

    def __init__(self, store: Store) -> None:
        self.store = store

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        try:
            return self.store.con.execute(sql, params or {}).fetchall()
        except duckdb.Error as error:
            raise StoreError(f"{self.store.path}: query failed: {error}") from error

    def prepare(self, scope: Scope, *, presented: bool = False) -> StoreTarget:
        """The store read for one diagnosis of ``scope`` (and ``presented``: who presented
        which certificate, for the dashboard's client and certificate pages)."""
        return StoreTarget(self.store, scope, presented=presented)


class StoreTarget(StoreRows):
    """A store read for one :class:`Scope`: three reads (counts per status and minute,
    failures per code, client and certificate, expiring certificates per client) into
    temporary tables, which every question then asks. Asked of the store, each question
    read it again."""

    def __init__(
        self, store: Store, scope: Scope, *, strict: bool = False, presented: bool = False
    ) -> None:
        super().__init__(store)
        self.stats: ReadStats = store_stats(store, strict=strict)
        where, params = resolve_candidates(self, scope.filters).where()
        over = {"rel": "connections", "where": where}
        counts = self._stage("diagnose_counts", q.STATUS_MINUTES.format(**over), params)
        failures = self._stage("diagnose_groups", q.FAILURE_GROUPS.format(**over), params)
        expiring = self._stage(
            "diagnose_expiring",
            q.EXPIRING_CLIENTS.format(**over),
            {**params, "horizon": scope.horizon},
        )
        shown = handshakes = None
        if presented:
            shown = self._stage("diagnose_presented", q.PRESENTED.format(**over), params)
        if scope.tls:
            handshakes = self._stage("diagnose_tls", q.TLS_HANDSHAKES.format(**over), params)
        self.prepared = Prepared.of_tables(scope, counts, failures, expiring, shown, handshakes)

    def fetch_many(self, queries: Sequence[Query]) -> list[Rows]:
        # Temporary tables live on this one connection: the questions run in turn.
        return [self.fetch(sql, params) for sql, params in queries]

    def _stage(self, name: str, select: str, params: dict[str, Any]) -> str:
        """Keep the rows of ``select`` in a temporary table (in memory; the store is read-only)."""
        used = {k: v for k, v in params.items() if f"${k}" in select}
        self.fetch(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", used)
        return name


@contextmanager
def open_target(
    inputs: Sequence[str],
    *,
    db: Path | None,
    scope: Scope,
    stdin: BinaryIO | None = None,
    strict: bool = False,
    openers: Mapping[str, Opener] | None = None,
) -> Iterator[StoreTarget | StreamTarget | PureTarget]:
    """The prepared tables of ``scope`` over ``inputs`` or, with no inputs, the store ``db``.

    Files are read once, by the compiled scanner when it is built (:class:`StreamTarget`),
    else by DuckDB's own reader (:class:`PureTarget`); both give the same tables.
    """
    if not inputs:
        assert db is not None
        store = Store.open_read_only(db)
        try:
            yield StoreTarget(store, scope, strict=strict)
        finally:
            store.close()
        return
    workdir = make_workdir()
    try:
        since, until = scope.filters.since, scope.filters.until
        scan = expand_inputs(
            inputs, workdir=workdir, stdin=stdin, openers=openers, since=since, until=until
        )
        stats = ReadStats(files=len(scan.sources), skipped_unknown=scan.skipped_unknown)
        fileset = FileSet(scan.sources, workdir, scan.unreadable, scan.empty)
        kind = StreamTarget if native.available() else PureTarget
        target = kind(fileset, stats, workdir, strict, scope)
        try:
            yield target
        finally:
            target.con.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
