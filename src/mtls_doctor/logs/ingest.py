"""Ingest log inputs into a store, and run read-only SQL on it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from mtls_doctor.errors import LogFormatError, StoreError
from mtls_doctor.logs import native
from mtls_doctor.logs.api import SCHEMA_VERSION, ReadStats
from mtls_doctor.logs.append import append_sources
from mtls_doctor.logs.fresh import stored_copies
from mtls_doctor.logs.groupmarks import bind_store
from mtls_doctor.logs.reader import FileFault, ParseIssue
from mtls_doctor.logs.sources import Opener, SourceScan, expand_inputs, make_workdir
from mtls_doctor.logs.store import IngestedFile, Store, _connect


@dataclass(frozen=True)
class IngestResult:
    """What an ingest run did, file by file."""

    db: str
    files: tuple[IngestedFile, ...]
    stats: ReadStats
    unreadable: int = 0  # inputs that could not be opened or fetched at all

    @property
    def inputs(self) -> int:
        """Every log file the inputs named: read, stored already, or not read."""
        return len(self.files) + self.unreadable

    @property
    def read_whole(self) -> int:
        """Inputs read to their end (or stored already); the others are not in the store
        in whole."""
        cut_short = sum(1 for f in self.files if f.fault is not None and not f.fault_complete)
        return len(self.files) - cut_short

    @property
    def added_rows(self) -> int:
        return sum(f.rows for f in self.files if f.status in ("added", "replaced"))

    @property
    def added_files(self) -> int:
        return sum(1 for f in self.files if f.status in ("added", "replaced"))

    @property
    def unchanged_files(self) -> int:
        return sum(1 for f in self.files if f.status == "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "db": self.db,
            "added_rows": self.added_rows,
            "added_files": self.added_files,
            "unchanged_files": self.unchanged_files,
            "inputs": self.inputs,
            "inputs_read": self.read_whole,
            **{k: v for k, v in self.stats.to_dict().items() if k != "files"},
            "files_read": self.stats.files,
            "files": [f.to_dict() for f in self.files],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def ingest_inputs(
    inputs: Sequence[str],
    db: Path,
    *,
    stdin: BinaryIO | None = None,
    strict: bool = False,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
    openers: Mapping[str, Opener] | None = None,
) -> IngestResult:
    """Ingest every log file of ``inputs`` into the store at ``db``, many whole files per
    transaction (see ``append.py``). ``openers`` reads other schemes (``s3://``): their
    objects whose current version the store holds are not fetched again."""
    if native.available():
        # Before any thread of the run exists: glibc fixes its number of arenas once a
        # ninth one is wanted (see _linescan.c).
        native.tune_allocator()
    workdir = make_workdir()
    try:
        store = Store.open(db)
        try:
            return _ingest(store, inputs, workdir, stdin, strict, progress, now, openers)
        finally:
            store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _ingest(
    store: Store,
    inputs: Sequence[str],
    workdir: Path,
    stdin: BinaryIO | None,
    strict: bool,
    progress: Callable[[str], None] | None,
    now: datetime | None,
    openers: Mapping[str, Opener] | None,
) -> IngestResult:
    stats = ReadStats()
    if not inputs:
        return IngestResult(str(store.path), (), stats)
    stored = stored_copies(store) if openers else None
    openers = bind_store(openers, store)  # cloudwatch: reads only the events not stored yet
    # With the compiled reader, S3 objects are read as they download (one pass: fetch, hash,
    # inflate, scan); DuckDB's own reader needs files, so then they are fetched first.
    scan = expand_inputs(
        inputs,
        workdir=workdir,
        stdin=stdin,
        openers=openers,
        stored=stored,
        stream=native.available(),
    )
    try:
        return _append(store, scan, workdir, strict, progress, now, stats)
    finally:
        for source in scan.sources:
            if source.feed is not None:
                source.feed.close()  # downloads still running (strict stop, Ctrl-C) stop


def _append(
    store: Store,
    scan: SourceScan,
    workdir: Path,
    strict: bool,
    progress: Callable[[str], None] | None,
    now: datetime | None,
    stats: ReadStats,
) -> IngestResult:
    stats.files = len(scan.sources)
    stats.skipped_unknown = scan.skipped_unknown
    for name, reason in scan.unreadable:
        stats.faults.append(FileFault(name, f"cannot read: {reason}", 0))
    done: list[IngestedFile] = []

    def record(item: IngestedFile) -> None:
        done.append(item)
        _account(store, item, stats)
        if progress and len(done) % 100 == 0:
            progress(f"[{len(done)}/{len(scan.sources)}] {item.source}")

    append_sources(
        store,
        scan.sources,
        workdir,
        now=now or datetime.now(UTC),
        strict=strict,
        on_done=record,
    )
    _every_fetch_failed(scan, done)
    return IngestResult(str(store.path), tuple(done), stats, len(scan.unreadable))


def _every_fetch_failed(scan: SourceScan, done: list[IngestedFile]) -> None:
    """As when objects are fetched before reading: if not one input could be fetched, the
    first error ends the command (exit 4 for access or credentials)."""
    errors = [s.feed.error for s in scan.sources if s.feed is not None and s.feed.error]
    if errors and all(item.status == "unread" for item in done):
        raise errors[0]


def _account(store: Store, item: IngestedFile, stats: ReadStats) -> None:
    stats.malformed += item.malformed
    if item.fault:
        lines = item.fault_lines if item.fault_lines is not None else item.rows + item.malformed
        stats.faults.append(FileFault(item.source, item.fault, lines, item.fault_complete))
    if item.malformed:
        rows = store.con.execute(
            "SELECT e.line_no, e.reason FROM parse_errors e JOIN files f USING (file_id) "
            "WHERE f.source = ? ORDER BY e.line_no LIMIT 100",
            [item.source],
        ).fetchall()
        stats.issues.extend(ParseIssue(item.source, line, reason) for line, reason in rows)


def run_sql(db: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``query`` on a read-only connection to the store; return columns and rows."""
    con = _connect(db, read_only=True)
    try:
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except duckdb.Error as error:
        raise StoreError(
            f"SQL failed: {str(error).splitlines()[0]}",
            hint="Tables: connections, files, parse_errors; view connections_v.",
        ) from error
    finally:
        con.close()


__all__ = ["IngestResult", "LogFormatError", "ingest_inputs", "run_sql"]
