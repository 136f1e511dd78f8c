"""Parquet connection logs (a vended delivery to S3 with ``outputFormat`` parquet), read as
the equivalent legacy lines.

``feed.py`` reads a Parquet file through :func:`legacy_pieces`: its bytes, as the readers see
them, are the legacy line of each row (``lines.legacy_bytes``), so the compiled scanner, the
SQL parser, routing, ingest and malformed-line reporting read it as they read any log (a
download is spooled to a temporary file first: the footer comes last). Memory stays
bounded whatever the file's size: rows are decoded :data:`BATCH_ROWS` at a time
(``ParquetFile.iter_batches``, one row group's column chunks at most), and only the columns
that are fields are read.

Columns are found by name (``timestamp`` is a synonym of ``time``; others are ignored), with
string or typed values and nulls (``lines.py``). UNCONFIRMED (spec §2.2, §2.6): AWS's
Parquet schema (column types, row-group size, codec) has not been seen.

Line numbers: line *N* of a Parquet file is its *N*-th row, counted from 1 across the row
groups in file order; row *r* (from 0) of row group *g* is line ``1 + r + rows(0..g-1)``.
A bad value (a time that is not one, a port that is not a number) is a malformed line at that
number. A file that cannot be read (not Parquet, a damaged footer or page) or that lacks a
required column (:data:`REQUIRED`) is a file fault naming the file, the column or the row
group; the rows read before a damaged row group are kept, as for a truncated gzip.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES, VENDED_SYNONYMS
from mtls_doctor.logs.faults import FeedFault
from mtls_doctor.logs.vended.lines import VendedTypeError, legacy_bytes

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

# Rows converted at once. Measured on the 2M-row benchmark corpus, two reading threads: the
# peak RSS of `logs query` was ~350 MB at 2,048 rows (max of 3 runs 355), ~370 MB at 4,096
# (max of 5 runs 410), ~480 MB at 16,384: each batch's intermediate arrays go back to an
# allocator that keeps them. The CPU time hardly changes.
BATCH_ROWS = 2048
# Without these a row cannot be a connection record that says anything: the time, and the
# verdict (the other fields may be left out of a delivery's recordFields, and are then empty).
REQUIRED = ("time", "tls_verify_status")
_FIELDS = frozenset(VENDED_FIELD_NAMES)


def canonical(name: str) -> str:
    """The vended field a column stands for (``timestamp`` is ``time``)."""
    return VENDED_SYNONYMS.get(name, name)


def missing_column(names: list[str]) -> str | None:
    """The first required field that no column of ``names`` holds, else None."""
    present = {canonical(name) for name in names}
    return next((field for field in REQUIRED if field not in present), None)


@functools.cache
def _use_system_allocator() -> None:
    """Arrow's default pool (mimalloc) keeps what a decoding thread freed: reading the 2M-row
    benchmark corpus peaked ~70 MB higher with it than with the C allocator, which the
    compiled reader already tunes to keep freed memory for reuse (``native.py``). Once per
    process, and only once a Parquet file is read."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def _open(
    handle: BinaryIO | pa.NativeFile, dictionaries: list[str] | None = None, metadata: Any = None
) -> pq.ParquetFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _use_system_allocator()
    try:
        return pq.ParquetFile(
            handle, pre_buffer=False, read_dictionary=dictionaries, metadata=metadata
        )
    except (pa.ArrowException, OSError, ValueError) as error:
        raise FeedFault(f"not a readable Parquet file ({_first_line(error)})") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _columns(file: pq.ParquetFile) -> list[str]:
    """The columns to read; raises :class:`FeedFault` for a missing required one."""
    names = list(file.schema_arrow.names)
    missing = missing_column(names)
    if missing is not None:
        raise FeedFault(f"no {missing} column (a required field of a connection log)")
    # Both time and its synonym when both are there: lines.py takes time, else timestamp.
    return [name for name in names if canonical(name) in _FIELDS]


def legacy_pieces(handle: BinaryIO) -> Iterator[bytes]:
    """The legacy lines of the Parquet file ``handle`` (seekable), each ended by ``\\n``, in
    pieces of at most :data:`BATCH_ROWS` lines (the hook of ``feed.py``). Raises
    :class:`~mtls_doctor.logs.faults.FeedFault` for a file that cannot be read, a missing
    required column, a damaged row group or a column of a type that cannot be a field (the
    lines already given stand)."""
    for batch in record_batches(handle, BATCH_ROWS):
        try:
            yield legacy_bytes(batch)
        except VendedTypeError as error:
            raise FeedFault(f"column {error}") from error


def record_batches(
    handle: BinaryIO | pa.NativeFile, rows: int, plain: frozenset[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The field columns of the Parquet file ``handle`` (seekable), ``rows`` rows at a time,
    row group by row group, with the faults of :func:`legacy_pieces`. With ``plain``, string
    columns not named in it are decoded as dictionaries (as Parquet stores them), which costs
    a fraction of writing out every value."""
    import pyarrow as pa

    file = _open(handle)
    columns = _columns(file)
    if plain is not None:
        schema = file.schema_arrow
        coded = [n for n in columns if n not in plain and pa.types.is_string(schema.field(n).type)]
        file = _open(handle, coded, file.metadata)
    groups, done = file.metadata.num_row_groups, 0
    # Row group by row group (a batch never spans two): the rows before a damaged group are
    # all given, and the fault names the group.
    for group in range(groups):
        batches = file.iter_batches(
            batch_size=rows, row_groups=[group], columns=columns, use_threads=False
        )
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError, ValueError) as error:
                where = f"row group {group} of {groups}, from line {done + 1} on"
                raise FeedFault(f"cannot read {where} ({_first_line(error)})") from error
            yield batch
            done += batch.num_rows
