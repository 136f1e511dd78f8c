"""The store: idempotent ingest, whole files after a SIGKILL, locks, schema, read-only SQL."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.errors import StoreError, StoreLockedError
from mtls_doctor.logs import append, fresh, native
from mtls_doctor.logs.api import open_selection
from mtls_doctor.logs.ingest import ingest_inputs, run_sql
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.conftest import write_log
from tests.logs.corpus import AWS_FAILED, AWS_SUCCESS, line, small_corpus


def _rows(db: Path) -> int:
    (count,) = run_sql(db, "SELECT count(*) FROM connections")[1][0]
    return int(count)


def test_ingest_is_idempotent(logdir: Path, tmp_path: Path) -> None:
    small_corpus(logdir, lines=300, files=3)
    db = tmp_path / "s.duckdb"
    first = ingest_inputs([str(logdir)], db)
    assert first.added_rows == 300 and first.added_files == 3
    again = ingest_inputs([str(logdir)], db)
    assert again.added_rows == 0 and again.unchanged_files == 3
    assert _rows(db) == 300
    write_log(logdir / "conn_log_new.log", [line()])  # near miss: a new file does add rows
    assert ingest_inputs([str(logdir)], db).added_rows == 1
    with open_selection([], db=db) as sel:  # source_file recorded
        sources = {r["source_file"] for r in sel.iter_rows(Filters())}
    assert any(s.endswith("conn_log_new.log") for s in sources) and len(sources) == 4


@pytest.mark.parametrize("pure", [False, True])
def test_the_compiled_reader_commits_large_groups(
    logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pure: bool
) -> None:
    # Files over the pure reader's group bound (made tiny here) still go in as one group
    # with the compiled reader, whose rows are never staged: DuckDB writes full row groups
    # in parallel only in large INSERTs (fresh.STREAM_GROUP_BYTES).
    if pure:
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    elif not native.available():
        pytest.skip("the compiled scanner is not built")
    monkeypatch.setattr(fresh, "GROUP_BYTES", 1)
    monkeypatch.setattr(append, "GROUP_BYTES", 1)
    seen: list[int] = []
    real = append.append_group

    def counted(store: Store, group: list[fresh.Fresh], *args: object) -> list[object]:
        seen.append(len(group))
        return real(store, group, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(append, "append_group", counted)
    small_corpus(logdir, lines=300, files=3)
    result = ingest_inputs([str(logdir)], tmp_path / "s.duckdb")
    assert result.added_rows == 300
    assert seen == ([1, 1, 1] if pure else [3])


def test_compiled_and_pure_ingest_store_the_same(
    logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The compiled path stores certified lines typed by certified_sql, and the lines the
    # scanner declines (an IPv4 inside IPv6, malformed) parsed
    # apart: the store must hold what the pure path's one parser makes of the same lines.
    if not native.available():
        pytest.skip("the compiled scanner is not built")
    lines = [
        line(),
        AWS_SUCCESS,
        AWS_FAILED + "   ",
        line(ip="::ffff:203.0.113.9", serial="00ab12"),
        line(status="Failed:SomethingNew", tail=" x25519 app/lb/1 10.0.0.1 extra"),
        line(port="99999"),
        "not a log line",
        line(ts="2024-04-05T18:00:02.5Z", subject='"-"', serial="-", tail=""),
        # Trace ids stored as UUIDs (the first line's) and as text (store.RENDERED).
        line().replace("TID_0123456789abcdef", "TID_0123456789ABCDEF"),
        line().replace("TID_0123456789abcdef", "TID_0123456789abcde"),
        line().replace("TID_0123456789abcdef0123456789abcdef", "-"),
        line().replace(
            "TID_0123456789abcdef0123456789abcdef", "TID_00000000000000000000000000000000"
        ),
        line().replace("TID_0123456789abcdef0123456789abcdef", "conn-7"),
    ]
    write_log(logdir / "conn_log_a.log", lines * 3)
    compiled = tmp_path / "compiled.duckdb"
    ingest_inputs([str(logdir)], compiled)
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    pure = tmp_path / "pure.duckdb"
    ingest_inputs([str(logdir)], pure)
    every = "SELECT * EXCLUDE (file_id) FROM connections ORDER BY ALL"
    errors = "SELECT line_no, reason, line FROM parse_errors ORDER BY ALL"
    counts = "SELECT rows, malformed, extra_field_lines, unknown_code_lines FROM files"
    for sql in (every, errors, counts):
        assert run_sql(compiled, sql) == run_sql(pure, sql)
    assert len(run_sql(compiled, every)[1]) == 33
    uuids = "SELECT count(trace_uuid), count(conn_trace_id) FROM connection_rows"
    # 18: the 12-field lines (AWS's examples, and tail="") are certified too.
    assert run_sql(compiled, uuids)[1] == [(18, 12)] and run_sql(pure, uuids)[1] == [(0, 30)]


def test_store_and_files_give_the_same_counts(logdir: Path, tmp_path: Path) -> None:
    small_corpus(logdir)
    db = tmp_path / "s.duckdb"
    ingest_inputs([str(logdir)], db)
    cols = ("tls_verify_status", "client_ip")
    with open_selection([str(logdir)]) as files, open_selection([], db=db) as store:
        assert files.count_by(Filters(), cols) == store.count_by(Filters(), cols)


def test_sigkill_mid_ingest_leaves_whole_files_and_rerun_completes(
    logdir: Path, tmp_path: Path
) -> None:
    # Five files per transaction: every commit is a multi-file one, so a kill that does not
    # fall between two commits falls inside a multi-file transaction.
    paths = small_corpus(logdir, lines=40_000, files=40)
    db = tmp_path / "k.duckdb"
    cmd = [sys.executable, "-m", "mtls_doctor", "ingest", str(logdir), "--db", str(db)]
    env = {**os.environ, "MTLS_DOCTOR_INGEST_GROUP_FILES": "5"}
    # The kill must land while the ingest still runs: on an idle machine 40 files can all be
    # stored within the first wait, so each attempt waits less (a timing, not a promise).
    for delay in (0.8, 0.4, 0.2, 0.1, 0.05):
        for leftover in (db, Path(str(db) + ".wal")):
            leftover.unlink(missing_ok=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not Path(str(db) + ".wal").exists():
            time.sleep(0.02)
        time.sleep(delay)  # let a few groups commit, then kill in the middle of the next ones
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if _rows(db) < 40_000:
            break
    else:
        pytest.fail("every ingest had stored all files before it was killed")
    per_file = {str(p): 1000 for p in paths}
    _, stored = run_sql(db, "SELECT source, rows FROM files")
    assert all(rows == per_file[source] for source, rows in stored)
    assert len(stored) % 5 == 0  # whole transactions only
    assert _rows(db) == 1000 * len(stored) < 40_000  # whole files only, and it was mid-way
    result = ingest_inputs([str(logdir)], db)
    assert result.unchanged_files == len(stored)
    assert _rows(db) == 40_000
    (files,) = run_sql(db, "SELECT count(*) FROM files")[1][0]
    assert files == 40


def test_an_empty_gzip_file_is_not_read_whole_and_not_stored(logdir: Path, tmp_path: Path) -> None:
    small_corpus(logdir, lines=60, files=2)
    empty = logdir / "conn_log_empty.log.gz"
    empty.write_bytes(b"")
    db = tmp_path / "e.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(logdir), "--db", str(db)])
    assert result.exit_code == 3, result.stderr
    assert f"{empty}: truncated gzip stream (the file is empty)" in result.stderr
    assert "2 of 3 inputs read; 60 rows added from 2 new file(s)" in result.stderr
    _, sources = run_sql(db, "SELECT source FROM files")
    assert str(empty) not in {s for (s,) in sources}
    # Near miss: once the file holds its logs, it is read (and another empty one would be
    # reported again, not taken for a stored copy of the first).
    write_log(empty.with_name("conn_log_empty.log"), [line()])
    empty.write_bytes(gzip.compress(empty.with_name("conn_log_empty.log").read_bytes()))
    empty.with_name("conn_log_empty.log").unlink()
    (logdir / "conn_log_empty2.log.gz").write_bytes(b"")
    again = CliRunner().invoke(cli, ["ingest", str(logdir), "--db", str(db)])
    assert again.exit_code == 3 and "conn_log_empty2.log.gz: truncated gzip" in again.stderr
    assert "3 of 4 inputs read; 1 rows added from 1 new file(s)" in again.stderr


def test_a_refused_locked_ingest_leaves_no_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "l.duckdb"
    Store.open(db).close()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    script = (
        f"import duckdb,time; c=duckdb.connect({str(db)!r}); print(1, flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        with pytest.raises(StoreLockedError):
            ingest_inputs([str(tmp_path)], db)
    finally:
        holder.kill()
        holder.wait()
    assert list(scratch.iterdir()) == []


def test_many_files_per_transaction_keep_each_files_rows_and_errors(
    logdir: Path, tmp_path: Path
) -> None:
    # One group of several files, one of them with malformed lines: each file's rows, its
    # counts and its malformed lines (with their line numbers) land under its own entry.
    small_corpus(logdir, lines=90, files=3)
    write_log(logdir / "conn_log_bad.log", [line(), "not a log line", line(), "2024 nope"])
    db = tmp_path / "g.duckdb"
    result = ingest_inputs([str(logdir)], db)
    assert result.added_files == 4 and result.added_rows == 92
    _, files = run_sql(db, "SELECT source, rows, malformed FROM files ORDER BY source")
    bad = [f for f in files if f[0].endswith("conn_log_bad.log")]
    assert bad == [(str(logdir / "conn_log_bad.log"), 2, 2)]
    assert sorted(rows for _, rows, _ in files) == [2, 30, 30, 30]
    _, per_file = run_sql(
        db,
        "SELECT f.file_id, f.rows, count(c.file_id) FROM files f "
        "JOIN connections c USING (file_id) GROUP BY ALL",
    )
    assert len(per_file) == 4 and all(rows == count for _, rows, count in per_file)
    _, errors = run_sql(
        db,
        "SELECT e.line_no FROM parse_errors e JOIN files f USING (file_id) "
        "WHERE f.source LIKE '%conn_log_bad.log' ORDER BY 1",
    )
    assert errors == [(2,), (4,)]
    assert [(i.file.endswith("conn_log_bad.log"), i.line) for i in result.stats.issues] == [
        (True, 2),
        (True, 4),
    ]


def test_locked_store_is_an_environment_error(tmp_path: Path) -> None:
    db = tmp_path / "l.duckdb"
    Store.open(db).close()
    script = (
        f"import duckdb,time; c=duckdb.connect({str(db)!r}); print(1, flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        with pytest.raises(StoreLockedError) as caught:
            Store.open(db)
        assert "locked" in caught.value.message and caught.value.exit_code == 4
    finally:
        holder.kill()
        holder.wait()
    Store.open(db).close()  # near miss: once released it opens


def test_not_a_duckdb_file(tmp_path: Path) -> None:
    bogus = tmp_path / "x.duckdb"
    bogus.write_bytes(b"hello, this is not a database" * 200)
    with pytest.raises(StoreError) as caught:
        Store.open_read_only(bogus)
    assert str(bogus) in caught.value.message and caught.value.exit_code == 3


def test_schema_version_and_migration(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    Store.open(db).close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
    con.close()
    assert Store.open_read_only(db).schema_version() == SCHEMA_VERSION


def _as_version_2(db: Path, rows_from: Path) -> None:
    """A store laid out as version 2 (every derived column stored), holding the rows of
    ``rows_from``, a store made now."""
    con = duckdb.connect(str(db))
    for version in (1, 2):
        for statement in MIGRATIONS[version]:
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute(f"ATTACH '{rows_from}' AS new (READ_ONLY)")
    con.execute("INSERT INTO files SELECT * FROM new.files")
    con.execute("INSERT INTO parse_errors SELECT * FROM new.parse_errors")
    con.execute("INSERT INTO connections SELECT * FROM new.connections")  # computed ones too
    con.close()


def test_a_version_2_store_reads_as_it_is_and_upgrades_with_the_same_rows(
    logdir: Path, tmp_path: Path
) -> None:
    small_corpus(logdir, lines=300, files=3)
    write_log(
        logdir / "conn_log_z.log",
        [line(serial="000A1", status="Success"), line(serial="00", status="-"), "bad line"],
    )
    new, old = tmp_path / "new.duckdb", tmp_path / "old.duckdb"
    ingest_inputs([str(logdir)], new)
    _as_version_2(old, new)
    every = "SELECT * FROM connections_v ORDER BY ALL"
    derived = "SELECT DISTINCT serial_key, verify_result, error_code FROM connections ORDER BY ALL"
    expected = run_sql(new, every), run_sql(new, derived)
    assert {("A1", "success", None), ("0", "not_tls", None)} <= set(expected[1][1])
    # Read-only (diagnose --db, sql, the dashboard): read as it is, not upgraded.
    assert (run_sql(old, every), run_sql(old, derived)) == expected
    assert Store.open_read_only(old).schema_version() == 2
    # Read-write (ingest): upgraded, the derived columns then computed when read.
    assert ingest_inputs([str(logdir)], old).unchanged_files == 4
    assert Store.open_read_only(old).schema_version() == SCHEMA_VERSION == 4
    assert (run_sql(old, every), run_sql(old, derived)) == expected
    kind = "SELECT table_type FROM information_schema.tables WHERE table_name = 'connections'"
    assert run_sql(old, kind)[1] == run_sql(new, kind)[1] == [("VIEW",)]


def test_sql_is_read_only(logdir: Path, tmp_path: Path) -> None:
    write_log(logdir / "conn_log_a.log", [line(), line()])
    db = tmp_path / "r.duckdb"
    ingest_inputs([str(logdir)], db)
    for statement in (
        "DELETE FROM connections",
        "DROP TABLE files",
        f"COPY connections TO '{tmp_path / 'out.csv'}'",
    ):
        with pytest.raises(StoreError):
            run_sql(db, statement)
    assert _rows(db) == 2 and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("damage", ["not UTF-8", "truncated gzip"])
def test_ingest_words_a_file_fault_as_logs_query_does(tmp_path: Path, damage: str) -> None:
    import gzip

    body = "\n".join(line() for _ in range(40)) + "\n"
    path = (
        tmp_path
        / "logs"
        / ("conn_log_123456789012_elasticloadbalancing_us-east-1_app.x.y_20240405T1315Z_a.log.gz")
    )
    path.parent.mkdir()
    if damage == "not UTF-8":
        path.write_bytes(gzip.compress(body.encode().replace(b"CN=", b"CN=\xff", 1)))
    else:
        data = gzip.compress(body.encode())
        path.write_bytes(data[: len(data) // 2])
    with open_selection([str(path)]) as selection:
        selection.count_by(Filters(), ["tls_verify_status"])
        read = selection.stats.faults
    ingested = ingest_inputs([str(path)], tmp_path / "s.duckdb").stats.faults
    assert [(f.message, f.lines_read, f.complete) for f in ingested] == [
        (f.message, f.lines_read, f.complete) for f in read
    ]
    assert read and read[0].complete is (damage == "not UTF-8")
