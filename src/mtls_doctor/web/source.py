"""The dashboard's view of a store: a snapshot copy, refreshed whenever the store changes.

DuckDB lets one process write a database file and takes a lock for it; while an ingest
holds that lock a read-only open fails. So the dashboard never reads the store itself:
when the file has changed since the last request it opens it read-only for the moment of a
file copy, and every request reads that copy. When the store is busy (an ingest is writing)
the last copy is served, marked with the time it was taken. The store is locked only while
a copy is made, so an ingest starting at that instant fails with "locked" and can be rerun.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor import duck
from mtls_doctor.diagnose.target import StoreRows
from mtls_doctor.errors import StoreError, StoreLockedError
from mtls_doctor.logs.store import Store
from mtls_doctor.timeutil import iso_z


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DataState:
    """How fresh the data of a page is."""

    as_of: datetime
    current: bool  # False: the store changed since, but was busy when we looked
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": iso_z(self.as_of), "current": self.current, "note": self.note}


class StoreSource:
    """Read-only access to the store at ``db`` through snapshot copies kept in ``workdir``."""

    def __init__(self, db: Path, workdir: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        if not db.is_file():
            raise StoreError(
                f"{db}: no store here", hint=f"Create it with: mtls-doctor ingest LOGS --db {db}"
            )
        self.db = db
        self.workdir = workdir
        self.clock = clock
        self._lock = threading.Lock()
        self._signature: tuple[int, ...] | None = None
        self._snapshot: Path | None = None
        self._as_of: datetime | None = None
        self._count = 0

    def _stat(self) -> tuple[int, ...]:
        parts: list[int] = []
        for path in (self.db, self.db.with_name(self.db.name + ".wal")):
            try:
                st = path.stat()
                parts += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                parts += [0, 0]
        return tuple(parts)

    def refresh(self) -> DataState:
        """Copy the store if it changed and is free; say how fresh the copy is."""
        with self._lock:
            signature = self._stat()
            if signature == self._signature and self._as_of is not None:
                return DataState(self._as_of, True)
            busy = self._copy(signature)
            if self._as_of is None:
                raise StoreLockedError(
                    f"{self.db}: the store is busy and there is no earlier snapshot ({busy})",
                    hint="Reload when the ingest has finished.",
                )
            if busy:
                note = f"The store is busy ({busy}); showing data as of {iso_z(self._as_of)}."
                return DataState(self._as_of, False, note)
            return DataState(self._as_of, True)

    def _copy(self, signature: tuple[int, ...]) -> str | None:
        """Make a new snapshot; return why not when the store cannot be opened now."""
        try:
            con = duck.connect(str(self.db), read_only=True)
        except duckdb.Error as error:
            if "lock" not in str(error).lower():  # not busy: not a store at all
                raise StoreError(
                    f"{self.db}: not a DuckDB store ({str(error).splitlines()[0]})",
                    hint="Point --db at a file made by 'mtls-doctor ingest'.",
                ) from error
            return str(error).splitlines()[0]
        try:
            self._count += 1
            dest = self.workdir / f"snapshot-{self._count}.duckdb"
            # Safe to copy: holding a read-only connection means no writer is active.
            shutil.copyfile(self.db, dest)
            wal = self.db.with_name(self.db.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, dest.with_name(dest.name + ".wal"))
        finally:
            con.close()
        Store.open_read_only(dest).close()  # a file that is not a store fails here, once
        old, self._snapshot = self._snapshot, dest
        self._signature, self._as_of = signature, self.clock()
        if old is not None:
            # Requests still reading the old copy keep their open file (POSIX semantics).
            for path in (old, old.with_name(old.name + ".wal")):
                path.unlink(missing_ok=True)
        return None

    @contextmanager
    def target(self) -> Iterator[tuple[StoreRows, DataState]]:
        """The rows of the current snapshot, for one request (``prepare`` one diagnosis)."""
        state = self.refresh()
        assert self._snapshot is not None
        store = Store.open_read_only(self._snapshot)
        try:
            yield StoreRows(store), state
        finally:
            store.close()
