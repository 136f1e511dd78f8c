"""The lines the compiled scanner declines, kept aside per transaction, stay bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.logs import insert, native
from mtls_doctor.logs.ingest import ingest_inputs, run_sql
from tests.conftest import write_log
from tests.logs.corpus import line

# What the store holds, file by file (by name, not by id).
_VIEWS = (
    "SELECT f.source, c.* EXCLUDE (file_id) FROM connections c JOIN files f USING (file_id) "
    "ORDER BY ALL",
    "SELECT source, size, sha256, rows, malformed, extra_field_lines, unknown_code_lines, "
    "first_seen, last_seen, fault FROM files ORDER BY ALL",
    "SELECT f.source, p.line_no, p.reason, p.line FROM parse_errors p JOIN files f "
    "USING (file_id) ORDER BY ALL",
)


def _legacy_files(folder: Path) -> None:
    """Files of lines the scanner declines whole and the SQL parser reads (an IPv4 address
    written inside IPv6), one with a malformed line, one of lines the scanner certifies."""
    for index in range(5):
        lines = [
            line(ts=f"2024-04-05T18:{index:02d}:{n % 60:02d}.{n:06d}Z", ip="::ffff:203.0.113.9")
            for n in range(400)
        ]
        if index == 2:
            lines.insert(7, "not a log line")
        write_log(folder / f"conn_log_{index}.log", lines, gz=index % 2 == 0)
    write_log(folder / "conn_log_5.log", [line()] * 50)


def _ingest(folder: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Ingest ``folder``; per transaction, the files it read and its spool's peak size."""
    parts: list[tuple[int, int]] = []
    real = insert.insert_read

    def recorded(*args: Any) -> insert.ReadGroup:
        read = real(*args)
        parts.append((read.taken, read.spooled))
        return read

    monkeypatch.setattr("mtls_doctor.logs.append.insert_read", recorded)
    ingest_inputs([str(folder)], db)
    return parts


def test_declined_lines_end_a_transaction_at_a_file_boundary(
    logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not native.available():
        pytest.skip("the compiled scanner is not built")
    _legacy_files(logdir)
    whole = _ingest(logdir, tmp_path / "whole.duckdb", monkeypatch)
    assert [taken for taken, _ in whole] == [6]  # one transaction by default
    largest = whole[0][1] // 4  # the spool of about one file of 400 declined lines
    # A bound under two files' declined lines: each transaction stops at the first file
    # begun after its spool passed it, so holds at most the bound and one file more.
    monkeypatch.setattr(insert, "SPOOL_LIMIT", largest)
    monkeypatch.setattr(insert, "SPOOL_BYTES", 1)  # the spool's file, holding several files
    bounded = _ingest(logdir, tmp_path / "bounded.duckdb", monkeypatch)
    assert sum(taken for taken, _ in bounded) == 6 and len(bounded) >= 3
    assert all(spooled <= 2 * largest for _, spooled in bounded)
    for view in _VIEWS:
        assert run_sql(tmp_path / "bounded.duckdb", view) == run_sql(
            tmp_path / "whole.duckdb", view
        )
    # Each file's rows went in with its own `files` entry: none without one.
    orphans = "SELECT count(*) FROM connections WHERE file_id NOT IN (SELECT file_id FROM files)"
    assert run_sql(tmp_path / "bounded.duckdb", orphans)[1] == [(0,)]
    again = ingest_inputs([str(logdir)], tmp_path / "bounded.duckdb")
    assert again.added_rows == 0 and again.unchanged_files == 6


def test_declined_lines_of_many_files_spooled_to_a_file(
    logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file's declined batches carry their own dictionaries (of the file's name): the
    # spool's file must take them one after another (the Arrow file format refuses that).
    if not native.available():
        pytest.skip("the compiled scanner is not built")
    _legacy_files(logdir)
    _ingest(logdir, tmp_path / "memory.duckdb", monkeypatch)
    monkeypatch.setattr(insert, "SPOOL_BYTES", 1)
    assert [taken for taken, _ in _ingest(logdir, tmp_path / "file.duckdb", monkeypatch)] == [6]
    for view in _VIEWS:
        assert run_sql(tmp_path / "file.duckdb", view) == run_sql(tmp_path / "memory.duckdb", view)


def test_a_spool_closed_without_being_read_leaves_no_file(tmp_path: Path) -> None:
    # As when the INSERT before it failed (a DuckDB error, Ctrl-C): its writer is closed too.
    import pyarrow as pa

    spool = insert._Spool(tmp_path / "declined.arrow")
    batch = pa.record_batch([pa.array(["x" * 64] * 4)], names=["line"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(insert, "SPOOL_BYTES", 1)
        spool.add(batch)
        spool.add(batch)
    assert (tmp_path / "declined.arrow").exists() and spool.size == 2 * batch.nbytes
    spool.close()
    assert not (tmp_path / "declined.arrow").exists() and spool.writer is None
