"""The DuckDB store: one file holding connections, the files they came from, and the
lines that could not be parsed.

Ingest is idempotent (a file whose content is already stored adds nothing) and atomic per
file (one transaction each), so a killed ingest leaves whole files only and a re-run
completes it. The schema is versioned in ``meta``; :data:`MIGRATIONS` upgrades older files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor import duck
from mtls_doctor.errors import StoreError, StoreLockedError
from mtls_doctor.logs.fields import FIELDS
from mtls_doctor.logs.reader import FileSet, locate_lines
from mtls_doctor.logs.readpolicy import enforce
from mtls_doctor.logs.sources import LogSource

SCHEMA_VERSION = 1
_DERIVED_TYPES = {
    "not_before": "TIMESTAMP",
    "not_after": "TIMESTAMP",
    "serial_key": "VARCHAR",
    "verify_result": "VARCHAR",
    "error_code": "VARCHAR",
    "field_count": "SMALLINT",
}
COLUMNS: tuple[tuple[str, str], ...] = (
    *((f.name, f.sql_type) for f in FIELDS),
    *_DERIVED_TYPES.items(),
)

_SCHEMA_V1 = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE file_ids START 1",
    """CREATE TABLE files (
        file_id INTEGER PRIMARY KEY, source VARCHAR NOT NULL, size BIGINT, sha256 VARCHAR,
        rows BIGINT, malformed BIGINT, extra_field_lines BIGINT, unknown_code_lines BIGINT,
        first_seen TIMESTAMP, last_seen TIMESTAMP, fault VARCHAR, ingested_at TIMESTAMP)""",
    "CREATE TABLE connections (file_id INTEGER NOT NULL, "
    + ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)
    + ")",
    "CREATE TABLE parse_errors (file_id INTEGER, line_no BIGINT, reason VARCHAR, line VARCHAR)",
    """CREATE VIEW connections_v AS
        SELECT c.*, f.source AS source_file FROM connections c JOIN files f USING (file_id)""",
]
# version -> statements that bring a store from version-1 to version.
MIGRATIONS: dict[int, list[str]] = {1: _SCHEMA_V1}


def default_db_path() -> Path:
    """``$MTLS_DOCTOR_DB``, else ``$XDG_DATA_HOME/mtls-doctor/connections.duckdb``
    (``~/.local/share/mtls-doctor/connections.duckdb``)."""
    if os.environ.get("MTLS_DOCTOR_DB"):
        return Path(os.environ["MTLS_DOCTOR_DB"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mtls-doctor" / "connections.duckdb"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class IngestedFile:
    """What one file added to the store (or why it added nothing)."""

    source: str
    status: str  # "added", "unchanged" (already stored), "replaced" (an earlier partial copy)
    rows: int
    malformed: int
    fault: str | None
    # As the reader counted them for the fault: the lines read, and whether that was all.
    fault_lines: int | None = None
    fault_complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "rows": self.rows,
            "malformed": self.malformed,
            "fault": self.fault,
        }


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the store. A read-only connection also cannot read or write any other file
    (``COPY ... TO``, ``ATTACH``, ``read_csv``): it serves SQL typed by the user."""
    if read_only and not path.exists():
        raise StoreError(
            f"{path}: no store here",
            hint="Create it with: mtls-doctor ingest LOGS --db " + str(path),
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"enable_external_access": False} if read_only else {}
        )
        return duck.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise StoreLockedError(
                f"{path}: the store is locked by another process",
                hint="Wait for the running ingest to finish, or use another --db file.",
            ) from error
        raise StoreError(f"{path}: cannot open the store ({error})") from error
    except duckdb.Error as error:
        raise StoreError(
            f"{path}: not a DuckDB store ({str(error).splitlines()[0]})",
            hint="Point --db at a file made by 'mtls-doctor ingest'.",
        ) from error


class Store:
    """An open store. Use :meth:`open` (read-write) or :meth:`open_read_only`."""

    relation = "connections_v"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        store = cls(_connect(path, read_only=False), path)
        store._migrate()
        return store

    @classmethod
    def open_read_only(cls, path: Path) -> Store:
        store = cls(_connect(path, read_only=True), path)
        version = store.schema_version()
        if version != SCHEMA_VERSION:
            store.close()
            raise StoreError(
                f"{path}: store schema version {version}, this mtls-doctor reads {SCHEMA_VERSION}",
                hint="Run 'mtls-doctor ingest --db FILE' (no inputs) to upgrade it.",
            )
        return store

    def close(self) -> None:
        self.con.close()

    def schema_version(self) -> int:
        try:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except duckdb.CatalogException:
            return 0
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: made by a newer mtls-doctor (schema {current})",
                hint="Upgrade mtls-doctor to read it.",
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[version]:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)]
                )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def run(
        self,
        query: Callable[[str], str],
        params: dict[str, Any],
        fetch: Callable[[duckdb.DuckDBPyConnection], Any],
    ) -> Any:
        """Run ``query(relation)`` with bound ``params`` and ``fetch`` the result."""
        try:
            self.con.execute(query(self.relation), params)
            return fetch(self.con)
        except duckdb.Error as error:
            raise StoreError(f"{self.path}: query failed: {str(error).splitlines()[0]}") from error

    # -- ingest ---------------------------------------------------------------------------

    def ingest_batch(
        self,
        sources: Sequence[LogSource],
        workdir: Path,
        now: datetime | None = None,
        strict: bool = False,
        on_done: Callable[[IngestedFile], None] | None = None,
    ) -> list[IngestedFile]:
        """Add files, each in its own transaction; a file whose content is stored adds nothing.

        The files of a batch are parsed together (DuckDB inflates them in parallel) into a
        staging table, then committed one by one, in order.
        """
        moment = now or datetime.now(UTC)
        results: dict[int, IngestedFile] = {}
        fresh: list[tuple[int, LogSource, str]] = []
        seen: set[str] = set()
        for index, source in enumerate(sources):
            digest = sha256_file(source.path)
            stored = self.con.execute("SELECT 1 FROM files WHERE sha256 = ?", [digest]).fetchone()
            if stored or digest in seen:
                results[index] = IngestedFile(source.display, "unchanged", 0, 0, None)
                if on_done:
                    on_done(results[index])
            else:
                seen.add(digest)
                fresh.append((index, source, digest))
        if fresh:
            self._ingest_fresh(fresh, workdir, moment, strict, results, on_done)
        return [results[i] for i in range(len(sources))]

    def _ingest_fresh(
        self,
        fresh: list[tuple[int, LogSource, str]],
        workdir: Path,
        now: datetime,
        strict: bool,
        results: dict[int, IngestedFile],
        on_done: Callable[[IngestedFile], None] | None,
    ) -> None:
        fileset = FileSet([source for _, source, _ in fresh], workdir)
        stage = f"stage_{os.getpid()}"
        fileset.run(
            self.con,
            # The raw line is kept for malformed rows only: it is most of a row's size.
            lambda rel: (
                f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * REPLACE "
                f"(CASE WHEN error IS NOT NULL THEN line END AS line) FROM {rel}"
            ),
            lambda con: None,
        )
        try:
            bad = self.con.execute(
                f"SELECT filename, line, error FROM {stage} WHERE error IS NOT NULL LIMIT 10000"
            ).fetchall()
            issues = locate_lines(fileset, bad, limit=10000)
            faults = {fault.file: fault for fault in fileset.faults}
            # FileSet keeps the order of its sources; a repaired file has a new path.
            for (index, source, digest), staged in zip(fresh, fileset.sources, strict=True):
                mine = [i for i in issues if i.file == source.display]
                fault = faults.get(source.display)
                message = None if fault is None else fault.message
                if strict:  # the one read policy (readpolicy.enforce)
                    enforce(mine, [] if fault is None else [fault])
                numbered = {issue.text: issue.line for issue in mine}
                added = self._commit_stage(
                    source, digest, stage, str(staged.path), message, numbered, now
                )
                if fault is not None:
                    added = replace(
                        added, fault_lines=fault.lines_read, fault_complete=fault.complete
                    )
                results[index] = added
                if on_done:
                    on_done(results[index])
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {stage}")

    def _commit_stage(
        self,
        source: LogSource,
        digest: str,
        stage: str,
        staged_path: str,
        fault: str | None,
        numbered: dict[str, int | None],
        now: datetime,
    ) -> IngestedFile:
        cols = ", ".join(name for name, _ in COLUMNS)
        with self.transaction():
            # An earlier copy that was cut short is replaced by the complete one.
            old = self.con.execute(
                "SELECT file_id FROM files WHERE source = ? AND fault IS NOT NULL",
                [source.display],
            ).fetchall()
            for (old_id,) in old:
                for table in ("connections", "parse_errors", "files"):
                    self.con.execute(f"DELETE FROM {table} WHERE file_id = ?", [old_id])
            (file_id,) = self.con.execute("SELECT nextval('file_ids')").fetchone()  # type: ignore[misc]
            self.con.execute(
                f"INSERT INTO connections SELECT ?, {cols} FROM {stage} "
                f"WHERE filename = ? AND error IS NULL",
                [file_id, staged_path],
            )
            self.con.execute(
                f"INSERT INTO parse_errors SELECT ?, NULL, error, left(line, 2000) FROM {stage} "
                f"WHERE filename = ? AND error IS NOT NULL",
                [file_id, staged_path],
            )
            for text, line_no in numbered.items():
                self.con.execute(
                    "UPDATE parse_errors SET line_no = ? "
                    "WHERE file_id = ? AND line = left(?, 2000)",
                    [line_no, file_id, text],
                )
            stats = self.con.execute(
                f"SELECT count(*) FILTER (error IS NULL), count(*) FILTER (error IS NOT NULL), "
                f"count(*) FILTER (has_extra_fields), count(*) FILTER (unknown_code), "
                f"min(timestamp), max(timestamp) FROM {stage} WHERE filename = ?",
                [staged_path],
            ).fetchone()
            assert stats is not None
            self.con.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    file_id,
                    source.display,
                    source.size,
                    digest,
                    *stats,
                    fault,
                    now.astimezone(UTC).replace(tzinfo=None),
                ],
            )
        status = "replaced" if old else "added"
        return IngestedFile(source.display, status, int(stats[0]), int(stats[1]), fault)
