"""What an ingest of a CloudWatch Logs group has stored, so a re-run stores no event twice.

A group is read into one file per log stream (``aws/cloudwatch.py``), and each such file is
stored like any other: its rows and its ``files`` entry in one transaction (``append.py``).
Beside it, table ``cloudwatch_seen`` keeps, for each stream file, the ids of its events from
``late`` before its newest event on, tagged with the file's SHA-256 (a group is known there as
``REGION:NAME``). Those rows are written
*before* the file is appended, in their own transaction, and count only once a ``files``
entry with that hash exists: a killed ingest leaves rows that count for nothing (dropped on
the next run), never a stored event without its rows or rows without their events.

Per stream, the mark is the newest stored event time (``high``) and the ids stored from
``high - late`` on. An event is new when it is later than ``high``, or within ``late`` of it
and not among those ids; older ones are taken as stored. A re-run therefore reads again from
``late`` before the oldest mark and stores only what it had not (at-least-once safe); an
event that reaches CloudWatch more than ``late`` after a newer one of its stream was stored
is not read (say so in the docs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from mtls_doctor.logs.sources import Opener
from mtls_doctor.logs.store import Store

TABLE = "cloudwatch_seen"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (log_group VARCHAR NOT NULL, log_stream VARCHAR NOT "
    "NULL, ts BIGINT NOT NULL, event_id VARCHAR NOT NULL, sha256 VARCHAR NOT NULL)"
)
# Rows whose stream file was stored (its hash is in files) count; the others never will.
_COMMITTED = "sha256 IN (SELECT sha256 FROM files WHERE sha256 IS NOT NULL)"


@dataclass(frozen=True)
class StreamMark:
    """What the store holds of one stream: its newest event time (ms) and the ids of the
    events from ``late`` before it on."""

    high: int
    ids: frozenset[str]

    def is_new(self, ts: int, event_id: str, late_ms: int) -> bool:
        if ts > self.high:
            return True
        return ts >= self.high - late_ms and event_id not in self.ids


@dataclass(frozen=True)
class Seen:
    """One row of ``cloudwatch_seen``: an event of a stream file about to be stored."""

    log_group: str
    log_stream: str
    ts: int
    event_id: str
    sha256: str


class GroupBook:
    """The marks of the groups ingested into one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ready = False

    def _table(self) -> None:
        # Made when a group is first ingested: a store of files only never gets it.
        if not self._ready:
            self.store.con.execute(_DDL)
            self._ready = True

    def marks(self, group: str, late_ms: int) -> dict[str, StreamMark]:
        """The marks of ``group``'s streams; rows that never counted or no longer matter
        (older than ``late`` before their stream's mark) are dropped on the way."""
        self._table()
        con = self.store.con
        with self.store.transaction():
            con.execute(
                f"DELETE FROM {TABLE} WHERE log_group = $g AND NOT ({_COMMITTED})", {"g": group}
            )
            con.execute(
                f"DELETE FROM {TABLE} WHERE log_group = $g AND ts < (SELECT max(h.ts) - $late FROM "
                f"{TABLE} h WHERE h.log_group = {TABLE}.log_group "
                f"AND h.log_stream = {TABLE}.log_stream)",
                {"g": group, "late": late_ms},
            )
        rows = con.execute(
            f"SELECT log_stream, max(ts), list(event_id) FROM {TABLE} WHERE log_group = $g "
            "GROUP BY log_stream",
            {"g": group},
        ).fetchall()
        return {stream: StreamMark(int(high), frozenset(ids)) for stream, high, ids in rows}

    def note(self, rows: Sequence[Seen]) -> None:
        """Keep ``rows`` (they count once their stream files are stored)."""
        if not rows:
            return
        self._table()
        columns = {
            "g": [r.log_group for r in rows],
            "s": [r.log_stream for r in rows],
            "t": [r.ts for r in rows],
            "e": [r.event_id for r in rows],
            "h": [r.sha256 for r in rows],
        }
        with self.store.transaction():
            self.store.con.execute(
                f"INSERT INTO {TABLE} SELECT unnest($g), unnest($s), unnest($t), unnest($e), "
                "unnest($h)",
                columns,
            )


class StoreAware(Protocol):
    """An opener that reads less when it knows what a store holds (``cloudwatch:``)."""

    def with_store(self, book: GroupBook) -> Opener: ...


def bind_store(openers: Mapping[str, Opener] | None, store: Store) -> dict[str, Opener] | None:
    """``openers`` for an ingest into ``store``: those that can, told what it holds."""
    if not openers:
        return None
    book: GroupBook | None = None
    bound: dict[str, Opener] = {}
    for scheme, opener in openers.items():
        with_store = getattr(opener, "with_store", None)
        if with_store is None:
            bound[scheme] = opener
            continue
        book = book or GroupBook(store)
        bound[scheme] = with_store(book)
    return bound
