"""How the compiled reader sorts and counts certified rows (``native.NativeReader``; the C
side is ``linescan_route.c``).

Each batch the reader makes holds rows of one kind: the scanner's routes for certified lines
(``FAILED``, ``EXPIRING``, ``OTHER``) and ``DECLINED`` for the lines left to the SQL parser.
A consumer of several queries (``split.run_split``) hands each kind to those that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

FAILED, EXPIRING, OTHER, DECLINED = "failed", "expiring", "other", "declined"
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Routing:
    """How a ``native.NativeReader`` sorts certified rows (see linescan_route.c): ``horizon``
    (naive UTC) splits ``Success`` rows into ``EXPIRING`` and ``OTHER``. With ``fold``,
    every certified line that is not ``FAILED`` is counted (``native.NativeReader.folded``),
    and an ``OTHER`` line (status ``-``, or ``Success`` not expiring before the horizon) is
    not returned as a row: a diagnosis of every row needs no more of it, and they are most
    lines. Nor is any line outside the ``since``/``until`` window that did not fail: it is
    counted apart."""

    horizon: datetime | None = None
    fold: bool = False
    since: datetime | None = None  # the time window selected (naive UTC, until excluded):
    until: datetime | None = None  # folded lines outside it are counted apart

    def for_scan(self) -> tuple[int | None, bool, int | None, int | None]:
        return _micros(self.horizon), self.fold, _micros(self.since), _micros(self.until)


def _micros(at: datetime | None) -> int | None:
    return None if at is None else (at - _EPOCH) // timedelta(microseconds=1)


# The bits of a folded count's key (linescan.h's FoldEntry).
KEY_NOT_TLS, KEY_EXTRA_FIELDS, KEY_OUTSIDE = 1, 2, 4


def folded_schema() -> pa.Schema:
    """The scanner's counts of folded lines (see :class:`Routing`): per ``key`` (bit 0: status
    ``-``, else ``Success``; bit 1: more than 15 fields; bit 2: outside the time window, with
    ``minute`` 0) and ``minute``, ``n`` lines seen from ``first_seen`` to ``last_seen``. A key
    and minute may come in several rows (one per scan)."""
    import pyarrow as pa

    micros = pa.timestamp("us")
    return pa.schema(
        [
            ("key", pa.int32()),
            ("minute", micros),
            ("n", pa.int64()),
            ("first_seen", micros),
            ("last_seen", micros),
        ]
    )


def folded_batch(columns: tuple[bytearray, ...]) -> pa.RecordBatch | None:
    import pyarrow as pa

    rows = len(columns[0]) // 4
    if not rows:
        return None
    schema = folded_schema()
    arrays = [
        pa.Array.from_buffers(f.type, rows, [None, pa.py_buffer(data)])
        for f, data in zip(schema, columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
