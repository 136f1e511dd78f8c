"""Ingest log inputs into a store, and run read-only SQL on it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import duckdb

from mtls_doctor.errors import LogFormatError, StoreError
from mtls_doctor.logs.api import SCHEMA_VERSION, ReadStats
from mtls_doctor.logs.reader import FileFault, ParseIssue
from mtls_doctor.logs.sources import LogSource, expand_inputs, make_workdir
from mtls_doctor.logs.store import IngestedFile, Store, _connect

if TYPE_CHECKING:
    from mtls_doctor.aws.options import RemoteOptions


@dataclass(frozen=True)
class IngestResult:
    """What an ingest run did, file by file."""

    db: str
    files: tuple[IngestedFile, ...]
    stats: ReadStats

    @property
    def added_rows(self) -> int:
        return sum(f.rows for f in self.files if f.status != "unchanged")

    @property
    def added_files(self) -> int:
        return sum(1 for f in self.files if f.status != "unchanged")

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
    remote: RemoteOptions | None = None,
) -> IngestResult:
    """Ingest every log file of ``inputs`` into the store at ``db``, one transaction each."""
    workdir = make_workdir()
    store = Store.open(db)
    done: list[IngestedFile] = []
    stats = ReadStats()
    try:
        if remote is not None:  # incremental: S3 objects stored whole are not fetched again
            stored = store.con.execute("SELECT source FROM files WHERE fault IS NULL").fetchall()
            remote = remote.skipping(frozenset(source for (source,) in stored))
        scan = (
            expand_inputs(inputs, workdir=workdir, stdin=stdin, remote=remote) if inputs else None
        )
        sources = scan.sources if scan else ()
        stats.files = len(sources)
        stats.skipped_unknown = scan.skipped_unknown if scan else ()
        for name, reason in scan.unreadable if scan else ():
            stats.faults.append(FileFault(name, f"cannot read: {reason}", 0))

        def record(item: IngestedFile) -> None:
            done.append(item)
            _account(store, item, stats)

        for batch in batches(sources):
            store.ingest_batch(
                batch, workdir, now=now or datetime.now(UTC), strict=strict, on_done=record
            )
            if progress:
                progress(f"[{len(done)}/{len(sources)}] {batch[-1].display}")
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return IngestResult(str(db), tuple(done), stats)


# Files parsed together: DuckDB inflates one file per core in parallel, and the staging
# table (one batch of parsed rows, in memory) stays small.
BATCH_FILES = max(2, os.cpu_count() or 2)
BATCH_BYTES = 256 * 1024 * 1024


def batches(sources: Sequence[LogSource]) -> Iterator[list[LogSource]]:
    """Consecutive groups of at most BATCH_FILES files and about BATCH_BYTES compressed."""
    batch: list[LogSource] = []
    size = 0
    for source in sources:
        if batch and (len(batch) >= BATCH_FILES or size + source.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(source)
        size += source.size
    if batch:
        yield batch


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
