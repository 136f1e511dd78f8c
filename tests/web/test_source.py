"""The dashboard keeps answering while another process holds the store's write lock."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.logs.ingest import ingest_inputs
from tests.web.conftest import Client, make_app
from tests.web.logdata import NOW, entries

_HOLD = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
    "print('locked', flush=True); time.sleep(60)"
)


@contextmanager
def writer_holding(db: Path) -> Iterator[None]:
    """Another process with the store open for writing, as a running ingest has it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _add_file(db: Path, folder: Path) -> None:
    import gzip

    extra = [e for e in entries() if e.client_ip == "203.0.113.9"][:5]
    later = [
        LogEntry(**{**e.__dict__, "timestamp": e.timestamp + timedelta(hours=1)}) for e in extra
    ]
    folder.mkdir()
    with gzip.open(folder / "conn_log_123456789012_extra.log.gz", "wt") as handle:
        handle.write("".join(e.to_line() + "\n" for e in later))
    ingest_inputs([str(folder)], db, now=NOW)


def test_busy_store_serves_the_last_snapshot_then_catches_up(
    store_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(store_db, db)
    client = Client(make_app(db, tmp_path / "work"))
    (tmp_path / "work").mkdir()
    assert client.json("/api/overview")[1]["diagnosis"]["summary"]["connections"] == 500
    _add_file(db, tmp_path / "more")
    with writer_holding(db):
        status, data = client.json("/api/overview")
        assert status == 200 and data["diagnosis"]["summary"]["connections"] == 500
        assert data["data_state"]["current"] is False and "busy" in data["data_state"]["note"]
        status, page = client.html("/connections")
        assert status == 200 and 'id="stale"' in page
    # Near miss: once the writer is gone the new rows show, marked current.
    status, data = client.json("/api/overview")
    assert data["diagnosis"]["summary"]["connections"] == 505 and data["data_state"]["current"]


def test_busy_store_without_snapshot_is_503_not_500(store_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(store_db, db)
    client = Client(make_app(db, tmp_path))
    with writer_holding(db):
        status, data = client.json("/api/connections")
        assert status == 503 and "busy" in data["error"]
        assert client.html("/")[0] == 503
        assert client.get("/connections.csv")[0] == 503


def test_a_file_that_is_not_a_store_is_503(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")
    client = Client(make_app(bogus, tmp_path))
    status, data = client.json("/api/overview")
    assert status == 503 and data["error"]
