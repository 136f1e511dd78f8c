"""Parquet rows handed to the compiled scanner as columns, not as lines (``native.py``).

Writing each row as its legacy line (``lines.py``) cost more than the whole read of a legacy
gzip (``benchmarks/README.md``, #17). The compiled scanner can instead take a batch's 15
field columns as Arrow buffers (``scan_columns`` in ``_linescan``, ``linescan_columns.c``):
it certifies each row with the same field checks as a line, as the line ``lines.py`` would
write of it, and declines, by index, every row it is unsure about. Those rows only are then
written as their legacy lines (:func:`odd_lines`) and read as any line is: by the line
scanner, then the SQL parser, which alone says what is malformed. The rows, their routes,
their line numbers (row *N* of the file is line *N*) and the faults are therefore those of
the line path; ``tests/logs/vended/test_columnar.py`` holds the two paths to the same result.

A Parquet file on disk is read so, and so is a Parquet download once spooled to a temporary
file (:func:`parquet_file`; its footer comes last, so nothing can be read before it all
arrived); the pure reader still reads the lines of ``feed.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES, VENDED_SYNONYMS
from mtls_doctor.logs import _linescan
from mtls_doctor.logs.faults import FeedFault
from mtls_doctor.logs.vended import parquet
from mtls_doctor.logs.vended.detect import PARQUET
from mtls_doctor.logs.vended.feed import SniffingFeed, VendedFeed
from mtls_doctor.logs.vended.lines import VendedTypeError, as_text, field_text, legacy_bytes

if TYPE_CHECKING:
    import pyarrow as pa

# Rows per batch, about the rows of one chunk of the line path (8 MiB of lines). Measured
# on the 2M-row benchmark, two reading threads (benchmarks/README.md, #17, seventh
# session): peak RSS ~300 MB at 16Ki rows, ~375 MB at 32Ki, ~440 MB at 64Ki; 8Ki rows cost
# a third more time.
BATCH_ROWS = 16_384
# Decoded as plain strings: one value per record, where a dictionary costs more than it saves.
UNIQUE = frozenset({"time", "timestamp", "conn_trace_id"})

# One field's column for scan_columns: strings (validity, offsets, data, indices, offset,
# dictionary offset, dictionary length, verdicts); numbers (kind, validity, values,
# offset); or None when the field has no column.
Column = (
    tuple[Any, Any, Any, Any, int, int, int, bytearray | None] | tuple[int, Any, Any, int] | None
)
# Per field, its last dictionary and the scanner's verdicts on its values: a row group's
# batches each bring the same dictionary, whose values are then certified once per group.
Kept = dict[int, tuple["pa.Array", bytearray]]


@contextmanager
def parquet_file(feed: object, stop: threading.Event) -> Iterator[Path | None]:
    """The Parquet file a source's ``feed`` reads, for the block: a file on disk as it is,
    a download once spooled (``SniffingFeed.spooled``); else None, and the feed is read
    as lines."""
    if isinstance(feed, VendedFeed):
        yield feed.path if feed.found.format == PARQUET else None
    elif isinstance(feed, SniffingFeed):
        with feed.spooled(stop) as spooled:
            yield spooled
    else:
        yield None


def batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The field columns of the Parquet file ``path``, :data:`BATCH_ROWS` rows at a time;
    raises :class:`FeedFault` as ``parquet.legacy_pieces`` does."""
    import pyarrow as pa

    with path.open("rb"):  # a file that cannot be opened fails as any log file does
        pass
    # Read by Arrow itself, not through a Python file object, whose every read takes the GIL;
    # its buffers come from the C allocator as the decoded columns' do (parquet.py).
    with pa.OSFile(str(path), memory_pool=pa.system_memory_pool()) as handle:
        yield from parquet.record_batches(handle, BATCH_ROWS, plain=UNIQUE)


def field_columns(batch: pa.RecordBatch, kept: Kept) -> list[Column]:
    """The 15 fields of ``batch`` as ``scan_columns`` takes them (Arrow buffers, which keep
    their memory alive), with the verdicts ``kept`` from the batches before. Integers and
    doubles are written as text by the scanner, other values that are not strings as
    ``lines.py`` writes them."""
    names = list(batch.schema.names)
    columns: list[Column] = []
    try:
        for field, name in enumerate(VENDED_FIELD_NAMES):
            array = _field_array(batch, name, names)
            if array is None:
                columns.append(None)
            elif (kind := _number_kind(array, name)) is not None:
                validity, values = array.buffers()
                columns.append((kind, validity if array.null_count else None, values, array.offset))
            else:
                text = array if _is_text(array) else as_text(array, name)
                columns.append(_buffers(text, field, kept))
    except VendedTypeError as error:
        raise FeedFault(f"column {error}") from error
    return columns


def odd_lines(batch: pa.RecordBatch, rows: list[int]) -> bytes:
    """The legacy lines of the rows ``rows`` of ``batch``, each ended by ``\\n``."""
    import pyarrow as pa

    try:
        return legacy_bytes(batch.take(pa.array(rows, pa.int32())))
    except VendedTypeError as error:
        raise FeedFault(f"column {error}") from error


def _field_array(batch: pa.RecordBatch, name: str, names: list[str]) -> pa.Array | None:
    """``name``'s column, None when absent or all null."""
    import pyarrow as pa

    synonyms = [s for s, target in VENDED_SYNONYMS.items() if target == name and s in names]
    if synonyms and name in names:  # both spellings: lines.py says which value stands
        return field_text(batch, name, names, batch.num_rows)
    present = [n for n in (name, *synonyms) if n in names]
    if not present:
        return None
    column = batch.column(present[0])
    return None if pa.types.is_null(column.type) else column


# scan_columns' kinds of numbers: their text is written by the scanner as lines.py writes it.
_NUMBER_KINDS = {"int32": 4, "int64": 8, "double": -8}


def _number_kind(array: pa.Array, name: str) -> int | None:
    # A number in time is an instant (lines.py), written by pyarrow.
    return None if name == VENDED_FIELD_NAMES[0] else _NUMBER_KINDS.get(str(array.type))


def _is_text(array: pa.Array) -> bool:
    """Strings, or strings through a dictionary scan_columns reads as it is."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        plain = pa.types.is_string(kind.value_type) and kind.index_type == pa.int32()
        return bool(plain and array.dictionary.null_count == 0)
    return bool(pa.types.is_string(kind))


def _buffers(array: pa.Array, field: int, kept: Kept) -> Column:
    import pyarrow as pa

    if not pa.types.is_dictionary(array.type):
        validity, offsets, data = array.buffers()
        valid = validity if array.null_count else None
        return valid, offsets, data, None, array.offset, 0, 0, None
    indices, values = array.indices, array.dictionary
    validity = indices.buffers()[0] if indices.null_count else None
    offsets, data = values.buffers()[1:3]
    before = kept.get(field)
    if before is None or not before[0].equals(values):
        before = values, bytearray(_linescan.verdicts_size(len(values)))
        kept[field] = before
    code = indices.buffers()[1]
    return validity, offsets, data, code, indices.offset, values.offset, len(values), before[1]
