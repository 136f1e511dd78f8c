"""How a group's rows go into the store, inside the transaction ``append.py`` opens.

With the compiled reader, the certified lines' batches go straight into ``connection_rows``
(one INSERT, nothing staged), typed only (``certified_sql``): a certified line is never
malformed. The lines the scanner declines are kept aside (spooled) as they pass, then parsed
by the SQL parser: the good ones stored, the malformed ones put in a temporary table for
``append.py`` to number and record. The pure reader (DuckDB's ``read_csv``, which repairs
damaged files by reading them again) stages a group's parsed rows in a temporary table.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor.logs import native
from mtls_doctor.logs.reader import FileSet, forget_stream, register_stream, stream_failure
from mtls_doctor.logs.routing import DECLINED
from mtls_doctor.logs.store import ROWS, STORED, TRACE_UUID

# The text the compiled reader scans per call: a quarter of the query's. Each reading
# thread holds a few chunks and their batches, and DuckDB's memory comes on top of them
# here (append.MEMORY_LIMIT).
CHUNK_BYTES = 2 * 1024 * 1024
SPOOL_BYTES = 32 * 1024 * 1024  # declined lines kept in memory before they go to a file
# A group is cut at the next file once its declined lines pass this: logs the scanner
# declines whole (every client an IPv4 address written inside IPv6, say) would otherwise
# spool some 6x a group's gzip bytes (fresh.STREAM_GROUP_BYTES) in the scratch folder,
# often a RAM-backed tmpfs.
SPOOL_LIMIT = 64 * 1024 * 1024
# What is stored of a parsed row, and of a certified one, whose trace id the scanner turned
# into a UUID when it could (store.RENDERED).
_COLS = ", ".join([*STORED[1:-1], f"NULL::UUID AS {TRACE_UUID}"])
_CERTIFIED_COLS = ", ".join(
    [
        *(
            f"CASE WHEN tid IS NULL THEN {c} END AS {c}" if c == "conn_trace_id" else c
            for c in STORED[1:-1]
        ),
        f"tid AS {TRACE_UUID}",
    ]
)
_INTO = f"INSERT INTO {ROWS} ({', '.join(STORED)})"  # connections is a view of it
ID_MAP = "(SELECT unnest($names) AS filename, unnest($ids) AS file_id)"
MALFORMED = "filename, line, error, has_extra_fields, unknown_code"
_MALFORMED_TYPES = (
    "filename VARCHAR, line VARCHAR, error VARCHAR, has_extra_fields BOOLEAN, unknown_code BOOLEAN"
)


@dataclass(frozen=True)
class ReadGroup:
    """What :func:`insert_read` read: the first ``taken`` files (the rest were not begun),
    and the line numbers of the declined lines of fed files (see ``locate_lines``)."""

    taken: int
    numbered: dict[str, dict[str, int]]
    spooled: int  # bytes of declined batches kept aside


def insert_read(
    con: duckdb.DuckDBPyConnection,
    fileset: FileSet,
    params: dict[str, Any],
    malformed: str,
    workdir: Path,
) -> ReadGroup:
    """The compiled reader's rows straight into ``connections``.

    The scanner certifies most lines, and a certified line is never malformed: those go in
    by one statement as they are read, typed only (``certified_sql``). The lines it declines
    are kept aside (spooled) as they pass, then parsed: the good ones stored, the malformed
    ones recorded. So the rows are read once, and never staged. Once the spool passes
    SPOOL_LIMIT, reading stops before the next file (one not fed: a download cannot be
    read again), which the caller commits in another transaction.
    """
    import pyarrow as pa

    reader = native.NativeReader(
        fileset.sources, faults=fileset.faults, chunk_bytes=CHUNK_BYTES, trace_ids=True
    )
    spool = _Spool(workdir / f"declined-{os.getpid()}.arrow")
    taken = len(fileset.sources)
    fed = [index for index, source in enumerate(fileset.sources) if source.feed is not None]
    last_fed = fed[-1] if fed else -1

    def certified() -> Iterator[pa.RecordBatch]:
        nonlocal taken
        begun = 0
        for batch, kind in reader.pairs():
            if reader.finished > begun:  # the first batch of another file
                if spool.size > SPOOL_LIMIT and last_fed < reader.finished:
                    taken = reader.finished  # none of this file's rows went in
                    return
                begun = reader.finished
            if kind == DECLINED:
                spool.add(batch)
            else:
                yield batch

    stream = pa.RecordBatchReader.from_batches(native.schema(), certified())
    name, relation = register_stream(con, stream, certified=True)
    try:
        try:
            insert_rows(con, relation, params, _CERTIFIED_COLS)
        except duckdb.Error as error:
            raise stream_failure(error, name) or error from error
        finally:
            forget_stream(con, name)
            reader.stop()
        spooled = spool.size
        _insert_declined(con, spool, params, malformed)
    finally:  # whatever failed (Ctrl-C included), the spool's file goes now
        spool.close()
    return ReadGroup(taken, reader.numbered, spooled)


def _insert_declined(
    con: duckdb.DuckDBPyConnection, spool: _Spool, params: dict[str, Any], malformed: str
) -> None:
    """The declined lines: the good ones stored, the malformed ones kept in ``malformed``."""
    if spool.empty:  # the usual case: the parser's SQL is not even planned (tens of ms)
        con.execute(f"CREATE TEMP TABLE {malformed} ({_MALFORMED_TYPES})")
        return
    declined = spool.table(native.schema())
    name, relation = register_stream(con, declined, reasons=False)
    try:
        insert_rows(con, f"(SELECT * FROM {relation} WHERE error IS NULL)", params)
    finally:
        forget_stream(con, name)
    name, relation = register_stream(con, declined)
    try:
        con.execute(
            f"CREATE TEMP TABLE {malformed} AS SELECT {MALFORMED} FROM {relation} "
            "WHERE error IS NOT NULL"
        )
    finally:
        forget_stream(con, name)


def insert_rows(
    con: duckdb.DuckDBPyConnection, relation: str, params: dict[str, Any], columns: str = _COLS
) -> None:
    """The rows of ``relation`` into the store, each with the id of its file (``params``:
    the group's file names and ids)."""
    with unordered(con):
        con.execute(
            f"{_INTO} SELECT m.file_id, {columns} FROM {relation} JOIN {ID_MAP} m USING (filename)",
            params,
        )


@contextlib.contextmanager
def unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let one INSERT into ``connections`` store its rows in any order.

    Kept in order, DuckDB gathers the statement's batches (about 20k rows each, under its
    row group of 122,880) and, when the statement ends, copies and compresses them all
    again on one thread: 40% of the CPU time of a profiled ingest, none of it in parallel.
    In any order, each thread fills and compresses its own row groups as the rows come.
    What reads the store sorts (diagnose and the dashboard break ties down to the row, as
    for Athena); only rows with the same timestamp may come out of ``logs query --db`` in
    another order than their lines had.
    """
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("RESET preserve_insertion_order")


class _Spool:
    """Declined batches, in memory up to SPOOL_BYTES and in an Arrow file beyond; ``size``
    counts both."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.batches: list[Any] = []
        self.size = 0
        self.writer: Any = None

    def add(self, batch: Any) -> None:
        self.size += batch.nbytes
        if self.writer is None and self.size <= SPOOL_BYTES:
            self.batches.append(batch)
            return
        if self.writer is None:
            import pyarrow as pa

            # The stream format: each file's batches come with their own dictionaries (of
            # file names, say), which the file format refuses to replace.
            self.writer = pa.ipc.new_stream(str(self.path), batch.schema)
            for kept in self.batches:
                self.writer.write_batch(kept)
            self.batches = []
        self.writer.write_batch(batch)

    @property
    def empty(self) -> bool:
        return self.writer is None and not self.batches

    def table(self, schema: Any) -> Any:
        import pyarrow as pa

        if self.writer is None:
            return pa.Table.from_batches(self.batches, schema)
        self.writer.close()
        return pa.ipc.open_stream(pa.memory_map(str(self.path))).read_all()

    def close(self) -> None:
        self.batches = []
        if self.writer is not None:
            with contextlib.suppress(Exception):  # closed already by table(), or failed
                self.writer.close()
            self.writer = None
        self.path.unlink(missing_ok=True)


def stage(con: duckdb.DuckDBPyConnection, fileset: FileSet, stage: str) -> None:
    """The pure reader's parsed rows of ``fileset`` into the temporary table ``stage``."""
    fileset.run(
        con,
        # The raw line is kept for malformed rows only: it is most of a row's size.
        lambda rel: (
            f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * REPLACE "
            f"(CASE WHEN error IS NOT NULL THEN line END AS line) FROM {rel}"
        ),
        lambda con: None,
    )


def insert_staged(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], staged: str, malformed: str
) -> None:
    """The pure reader's rows staged in ``staged`` (see :func:`stage`) into the store."""
    insert_rows(con, f"(SELECT * FROM {staged} WHERE error IS NULL)", params)
    con.execute(
        f"CREATE TEMP TABLE {malformed} AS SELECT {MALFORMED} FROM {staged} WHERE error IS NOT NULL"
    )
    con.execute(f"DROP TABLE {staged}")
