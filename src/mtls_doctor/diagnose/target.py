"""Where diagnose reads rows from: a store, or log files.

Diagnose asks a dozen questions of the same rows. Over a store they are cheap. Files are
read once: for a diagnosis alone (given its :class:`Scope`) into counts and the few rows
that matter (:mod:`.stream`); for anything else (the report's overview asks its own
questions) into an in-memory table of every row, which DuckDB spills to disk when it grows
large.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import duckdb

from mtls_doctor import duck
from mtls_doctor.diagnose import queries as q
from mtls_doctor.errors import LogFormatError, StoreError
from mtls_doctor.logs import native
from mtls_doctor.logs.api import ReadStats, store_stats
from mtls_doctor.logs.parse import PARSED_COLUMNS, error_code_sql, verify_result_sql
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.reader import FileSet, locate_lines
from mtls_doctor.logs.sources import Opener, expand_inputs, make_workdir
from mtls_doctor.logs.store import Store
from mtls_doctor.timeutil import to_naive_utc

if TYPE_CHECKING:
    from mtls_doctor.diagnose.stream import StreamTarget


MEMORY_LIMIT = "1GB"
# What diagnose, report and the support bundle read of a row from files. The other fields
# (trace ids, ELB names, ciphers, the validity text, ...) are most of a row's size and
# none of them reads them; a store keeps every field.
_UNREAD = {
    "client_port",
    "tls_cipher",
    "tls_handshake_latency",
    "leaf_client_cert_validity",
    "conn_trace_id",
    "tls_keyexchange",
    "elb",
    "ip_address",
    "field_count",
}
KEPT_COLUMNS: tuple[str, ...] = (
    *(c for c in PARSED_COLUMNS if c not in _UNREAD),
    "has_extra_fields",
    "unknown_code",
    "error",
)


def expiry_horizon(now: datetime, warn_days: int) -> datetime:
    """Certificates that worked and expire before this (naive UTC) are warned about."""
    return to_naive_utc(now) + timedelta(days=warn_days)


@dataclass(frozen=True)
class Scope:
    """What one diagnosis will ask, known before the logs are read: the selection and the
    expiry horizon. Given it, logs are read in one pass that answers just that."""

    filters: Filters
    horizon: datetime

    @classmethod
    def of(cls, filters: Filters, now: datetime, warn_days: int) -> Scope:
        return cls(filters, expiry_horizon(now, warn_days))


@dataclass(frozen=True)
class Prepared:
    """A target read for one :class:`Scope`: its ``relation`` holds the selection's rows
    counted per status and minute (``COUNT_SHAPE``), ``failures`` its failed rows counted
    per code, client and certificate (``queries.FAILURE_GROUPS``), and ``expiring`` who used
    each certificate that expires before the horizon."""

    scope: Scope
    failures: str
    expiring: str


class QueryTarget(Protocol):
    """Something that can run ``SELECT`` text over a relation of valid connection rows."""

    relation: str
    stats: ReadStats

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...


def resolve_candidates(target: QueryTarget, filters: Filters) -> Filters:
    """An IPv6 block is matched in Python against the v6 addresses in the target's rows,
    since the log's IPv6 spelling is not documented (see ``Filters.needs_candidates``)."""
    if not filters.needs_candidates():
        return filters
    rows = target.fetch(
        f"SELECT DISTINCT client_ip FROM {target.relation} WHERE contains(client_ip, ':')"
    )
    return filters.with_candidates([str(r[0]) for r in rows])


class StoreTarget:
    """Rows of an ingested store; with a :class:`Scope`, read for that one diagnosis."""

    relation = "connections"  # diagnose needs no source_file: skip the join with files

    def __init__(self, store: Store, scope: Scope | None = None) -> None:
        self.store = store
        self.stats = store_stats(store)
        if scope is not None:
            self._prepare(scope)

    def _prepare(self, scope: Scope) -> None:
        """Three reads of the store (counts per status and minute, failures per code, client
        and certificate, expiring certificates per client) into temporary tables, which the
        dozen questions then ask. Asked of the store, each question read it again."""
        where, params = resolve_candidates(self, scope.filters).where()
        over = {"rel": "connections", "where": where}
        counts = self.stage("diagnose_counts", q.STATUS_MINUTES.format(**over), params)
        failures = self.stage("diagnose_groups", q.FAILURE_GROUPS.format(**over), params)
        expiring = self.stage(
            "diagnose_expiring",
            q.EXPIRING_CLIENTS.format(**over),
            {**params, "horizon": scope.horizon},
        )
        self.shape = q.COUNT_SHAPE
        self.relation = (
            f"(SELECT *, {verify_result_sql('tls_verify_status')} AS verify_result, "
            f"{error_code_sql('tls_verify_status')} AS error_code FROM {counts})"
        )
        self.prepared = Prepared(
            scope, failures, f"(SELECT *, 'success' AS verify_result FROM {expiring})"
        )

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self.store.con.execute(sql, params or {}).fetchall()
        except duckdb.Error as error:
            raise StoreError(f"{self.store.path}: query failed: {error}") from error

    def stage(self, name: str, select: str, params: dict[str, Any]) -> str:
        """Keep the rows of ``select`` in a temporary table (in memory; the store is read-only)."""
        used = {k: v for k, v in params.items() if f"${k}" in select}
        self.fetch(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", used)
        return name


class ScratchTarget:
    """Rows read from log files into an in-memory database of their own, which DuckDB
    spills to disk (under the run's scratch folder) when a month of logs does not fit."""

    def __init__(self, workdir: Path) -> None:
        self.con = duck.connect()
        self.con.execute(f"SET temp_directory = '{workdir / 'spill'}'")
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or {}).fetchall()

    def stage(self, name: str, select: str, params: dict[str, Any]) -> str:
        """Keep the rows of ``select`` in a temporary table."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", params)
        return name


class FilesTarget(ScratchTarget):
    """Rows of log files, parsed once into a temporary table."""

    relation = "(SELECT * FROM parsed WHERE error IS NULL)"

    def __init__(self, fileset: FileSet, stats: ReadStats, workdir: Path, strict: bool) -> None:
        super().__init__(workdir)
        # A file's name is stored once, not per row: an ENUM of every name a row may carry.
        names = sorted({n for s in fileset.sources for n in (str(s.path), s.display)})
        self.con.execute("CREATE TYPE source_files AS ENUM (SELECT unnest($n))", {"n": names})
        fileset.run(
            self.con,
            lambda rel: (
                f"CREATE TEMP TABLE parsed AS SELECT {', '.join(KEPT_COLUMNS)}, "
                # The raw line is kept for malformed rows only: it is most of a row's size.
                "CASE WHEN error IS NOT NULL THEN line END AS line, "
                f"filename::source_files AS source_file FROM {rel}"
            ),
            lambda con: None,
        )
        self.stats = stats
        self._read_stats(fileset, strict)

    def _read_stats(self, fileset: FileSet, strict: bool) -> None:
        row = self.con.execute(
            "SELECT count(*) FILTER (error IS NOT NULL), count(*) FILTER (error IS NULL AND "
            "has_extra_fields), count(*) FILTER (error IS NULL AND unknown_code), "
            "count(*) FILTER (error IS NULL) FROM parsed"
        ).fetchone()
        assert row is not None
        (
            self.stats.malformed,
            self.stats.extra_field_lines,
            self.stats.unknown_code_lines,
            self.stats.rows,
        ) = row
        self.stats.faults = list(fileset.faults)
        if self.stats.malformed:
            bad = self.con.execute(
                "SELECT source_file::VARCHAR, line, error FROM parsed WHERE error IS NOT NULL "
                "LIMIT 10000"
            ).fetchall()
            self.stats.issues = locate_lines(fileset, bad)
        if strict and self.stats.issues:
            first = self.stats.issues[0]
            raise LogFormatError(first.file, first.line or 0, first.message)
        # Show the user's names (S3 keys, <stdin>) rather than scratch copies.
        names = {str(s.path): s.display for s in fileset.sources}
        for path, display in names.items():
            if path != display:
                self.con.execute(
                    "UPDATE parsed SET source_file = ? WHERE source_file = ?", [display, path]
                )


@contextmanager
def open_target(
    inputs: Sequence[str],
    *,
    db: Path | None,
    stdin: BinaryIO | None = None,
    strict: bool = False,
    openers: Mapping[str, Opener] | None = None,
    scope: Scope | None = None,
) -> Iterator[QueryTarget]:
    """A query target over ``inputs`` or, with no inputs, over the store ``db``.

    With a ``scope``, and the compiled reader, files are read for that one diagnosis only
    (:mod:`.stream`): in one pass, much faster, but the target then answers diagnose and
    nothing else.
    """
    if not inputs:
        assert db is not None
        store = Store.open_read_only(db)
        try:
            yield StoreTarget(store, scope)
        finally:
            store.close()
        return
    workdir = make_workdir()
    try:
        scan = expand_inputs(inputs, workdir=workdir, stdin=stdin, openers=openers)
        stats = ReadStats(files=len(scan.sources), skipped_unknown=scan.skipped_unknown)
        fileset = FileSet(scan.sources, workdir, scan.unreadable)
        target: FilesTarget | StreamTarget
        if scope is not None and native.available():
            from mtls_doctor.diagnose.stream import StreamTarget

            target = StreamTarget(fileset, stats, workdir, strict, scope)
        else:  # without the compiled reader, each side would read the files again
            target = FilesTarget(fileset, stats, workdir, strict)
        try:
            yield target
        finally:
            target.con.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
