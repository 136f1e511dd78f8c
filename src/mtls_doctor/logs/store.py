"""The DuckDB store: one file holding connections, the files they came from, and the
lines that could not be parsed.

Ingest (``append.py``) is idempotent (a file whose content is already stored adds nothing)
and commits whole files only (a file's rows and its ``files`` entry in one transaction), so a
killed ingest leaves whole files and a re-run completes it. The schema is versioned in
``meta``; :data:`MIGRATIONS` upgrades older files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor import duck
from mtls_doctor.errors import StoreError, StoreLockedError
from mtls_doctor.knowledge.fields import FIELDS
from mtls_doctor.logs.parse import error_code_sql, serial_key_sql, verify_result_sql

SCHEMA_VERSION = 4
# Version 2 only adds files.etag, which nothing reads but ingest; version 3 computes three
# derived columns when they are read instead of storing them; version 4 stores most trace
# ids as UUIDs (see RENDERED). Older stores read as they are.
MIN_READ_VERSION = 1
_DERIVED_TYPES = {
    "not_before": "TIMESTAMP",
    "not_after": "TIMESTAMP",
    "serial_key": "VARCHAR",
    "verify_result": "VARCHAR",
    "error_code": "VARCHAR",
    "field_count": "SMALLINT",
}
# Every column of ``connections`` after file_id, in order, as a reader sees them.
COLUMNS: tuple[tuple[str, str], ...] = (
    *((f.name, f.sql_type) for f in FIELDS),
    *_DERIVED_TYPES.items(),
)
# Since version 3 these are computed from the stored ones when read, with the very SQL the
# parser uses: storing them was an eighth of the CPU time of an ingest, and they cost a
# string comparison or two when read. ``connections`` is then a view of the stored rows
# (``ROWS``) that adds them, with the columns in the same order as before. (Not VIRTUAL
# generated columns: DuckDB binds and evaluates those on every chunk an INSERT appends,
# to check them, which cost 8% of an ingest.)
COMPUTED: dict[str, str] = {
    "serial_key": serial_key_sql("leaf_client_cert_serial_number"),
    "verify_result": verify_result_sql("tls_verify_status"),
    "error_code": error_code_sql("tls_verify_status"),
}
ROWS = "connection_rows"
_V3_STORED = tuple(column for column in COLUMNS if column[0] not in COMPUTED)
# Since version 4, a trace id as the ALB writes it ("TID_" and 32 lower-case hex digits,
# unique per connection, spec §1.4) is stored as a UUID (16 bytes) in this column, and
# conn_trace_id is then NULL: its text was a tenth of an ingest's CPU time (DuckDB tries to
# compress every random string). Any other trace id is kept as text. The view renders both
# the same way, so no reader sees the difference. The compiled scanner makes the UUIDs
# (native.schema's tid); the rows the SQL parser reads keep their text.
TRACE_UUID = "trace_uuid"
RENDERED = {
    "conn_trace_id": (
        f"coalesce(conn_trace_id, 'TID_' || replace(CAST({TRACE_UUID} AS VARCHAR), '-', ''))"
    )
}
# The columns an ingest writes into ROWS, in order (file_id first).
STORED: tuple[str, ...] = ("file_id", *(name for name, _ in _V3_STORED), TRACE_UUID)


def _connections_table(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    listed = ", ".join(f"{column} {sql_type}" for column, sql_type in columns)
    return f"CREATE TABLE {name} (file_id INTEGER NOT NULL, {listed})"


def _connections_view(rendered: dict[str, str]) -> str:
    shown = {**COMPUTED, **rendered}
    listed = ", ".join(f"{shown[name]} AS {name}" if name in shown else name for name, _ in COLUMNS)
    return f"CREATE VIEW connections AS SELECT file_id, {listed} FROM {ROWS}"


_VIEW = """CREATE VIEW connections_v AS
    SELECT c.*, f.source AS source_file FROM connections c JOIN files f USING (file_id)"""
_SCHEMA_V1 = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE file_ids START 1",
    """CREATE TABLE files (
        file_id INTEGER PRIMARY KEY, source VARCHAR NOT NULL, size BIGINT, sha256 VARCHAR,
        rows BIGINT, malformed BIGINT, extra_field_lines BIGINT, unknown_code_lines BIGINT,
        first_seen TIMESTAMP, last_seen TIMESTAMP, fault VARCHAR, ingested_at TIMESTAMP)""",
    _connections_table("connections", COLUMNS),
    "CREATE TABLE parse_errors (file_id INTEGER, line_no BIGINT, reason VARCHAR, line VARCHAR)",
    _VIEW,
]
# version -> statements that bring a store from version-1 to version.
MIGRATIONS: dict[int, list[str]] = {
    1: _SCHEMA_V1,
    # The ETag of an S3 object as it was read: a new one means the key was replaced.
    2: ["ALTER TABLE files ADD COLUMN etag VARCHAR"],
    # The derived columns computed when read: the rows are copied once into the new table
    # (one transaction, as every migration: a killed upgrade leaves the store as it was).
    3: [
        _connections_table(ROWS, _V3_STORED),
        f"INSERT INTO {ROWS} SELECT file_id, {', '.join(c for c, _ in _V3_STORED)} "
        "FROM connections",
        "DROP VIEW connections_v",
        "DROP TABLE connections",
        _connections_view({}),
        _VIEW,
    ],
    # Trace ids as UUIDs (RENDERED): the rows already stored keep their text.
    4: [
        f"ALTER TABLE {ROWS} ADD COLUMN {TRACE_UUID} UUID",
        "DROP VIEW connections_v",
        "DROP VIEW connections",
        _connections_view(RENDERED),
        _VIEW,
    ],
}


def default_db_path() -> Path:
    """``$MTLS_DOCTOR_DB``, else ``$XDG_DATA_HOME/mtls-doctor/connections.duckdb``
    (``~/.local/share/mtls-doctor/connections.duckdb``)."""
    if os.environ.get("MTLS_DOCTOR_DB"):
        return Path(os.environ["MTLS_DOCTOR_DB"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mtls-doctor" / "connections.duckdb"


@dataclass(frozen=True)
class IngestedFile:
    """What one file added to the store (or why it added nothing)."""

    source: str
    # "added", "unchanged" (already stored), "replaced" (an earlier partial or older copy),
    # "unread" (an empty .gz: nothing to store)
    status: str
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
        if not MIN_READ_VERSION <= version <= SCHEMA_VERSION:
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
