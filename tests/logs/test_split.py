"""run_split: one read of the files, a main query and side queries fed from it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mtls_doctor.logs import native, routing, split
from mtls_doctor.logs.reader import FileSet
from mtls_doctor.logs.sources import expand_inputs
from mtls_doctor.logs.split import Side, run_split
from tests.diagnose.corpus import crafted_lines, write_corpus

pytestmark = pytest.mark.skipif(not native.available(), reason="the compiled scanner")


everything = frozenset({routing.FAILED, routing.EXPIRING, routing.OTHER, routing.DECLINED})
nothing: frozenset[str] = frozenset()


def files(tmp_path: Path, count: int = 5, lines: int = 3000) -> FileSet:
    paths = []
    for i in range(count):
        body = [*(crafted_lines() * (lines // 84 + 1))[:lines], "not a log line"]
        paths.append(str(write_corpus(tmp_path / f"f{i}", body)))
    scan = expand_inputs(paths, workdir=tmp_path)
    return FileSet(scan.sources, tmp_path, scan.unreadable)


def table(name: str, select: str) -> Callable[[str], str]:
    return lambda rel: f"CREATE TABLE {name} AS {select.format(rel=rel)}"


def every_row(name: str, select: str) -> Side:
    """A main query over every kind of batch."""
    return Side(table(name, select), everything)


def within(seconds: float, work: Callable[[], object]) -> BaseException | None:
    """Run ``work`` in a thread; fail the test if it has not ended in time (a hang)."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            caught.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "run_split did not end"
    return caught[0] if caught else None


def test_sides_see_what_a_query_of_their_own_would(tmp_path: Path) -> None:
    fileset = files(tmp_path)
    con = duckdb.connect()
    failed = (
        "SELECT client_ip, timestamp FROM {rel} WHERE error IS NULL AND verify_result = 'failed'"
    )
    run_split(
        fileset,
        con,
        every_row("counts", "SELECT tls_verify_status, count(*) AS n FROM {rel} GROUP BY ALL"),
        [Side(table("failed", failed), everything), Side(table("none", failed), nothing)],
    )
    alone = duckdb.connect()
    fileset.run(alone, table("failed", failed), lambda c: None)
    fileset.run(
        alone,
        table("counts", "SELECT tls_verify_status, count(*) AS n FROM {rel} GROUP BY ALL"),
        lambda c: None,
    )
    order = " ORDER BY ALL"
    assert (
        con.execute("SELECT * FROM failed" + order).fetchall()
        == alone.execute("SELECT * FROM failed" + order).fetchall()
    )
    assert (
        con.execute("SELECT * FROM counts" + order).fetchall()
        == alone.execute("SELECT * FROM counts" + order).fetchall()
    )
    assert con.execute("SELECT count(*) FROM failed").fetchone() == (
        5 * 35 * 21,
    )  # 35 whole copies of the corpus per file
    assert con.execute("SELECT count(*) FROM none").fetchone() == (0,)  # kept nothing


def test_a_failing_side_is_reported_and_nothing_hangs(tmp_path: Path) -> None:
    fileset = files(tmp_path)
    con = duckdb.connect()
    broken = Side(table("bad", "SELECT no_such_column FROM {rel}"), everything)
    error = within(
        60, lambda: run_split(fileset, con, every_row("ok", "SELECT count(*) FROM {rel}"), [broken])
    )
    assert isinstance(error, duckdb.BinderException)
    assert "no_such_column" in str(error)


def test_a_failing_main_query_ends_its_sides(tmp_path: Path) -> None:
    fileset = files(tmp_path)
    con = duckdb.connect()
    side = Side(table("side", "SELECT count(*) FROM {rel}"), everything)
    error = within(
        60,
        lambda: run_split(
            fileset, con, every_row("bad", "SELECT error('stop here') FROM {rel}"), [side]
        ),
    )
    assert error is not None and "stop here" in str(error)


def test_a_reading_fault_is_an_input_error(tmp_path: Path) -> None:
    fileset = files(tmp_path, count=2)
    (fileset.sources[1].path).write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate")
    con = duckdb.connect()
    side = Side(table("side", "SELECT count(*) AS n FROM {rel}"), everything)
    error = within(
        60,
        lambda: run_split(fileset, con, every_row("m", "SELECT count(*) AS n FROM {rel}"), [side]),
    )
    # A damaged gzip is a fault of that file, not of the run: the good file's rows are read.
    assert error is None
    assert con.execute("SELECT n FROM m").fetchone() == (3001,)
    assert con.execute("SELECT n FROM side").fetchone() == (3001,)
    assert [f.file for f in fileset.faults] == [str(fileset.sources[1].path)]


def test_a_ctrl_c_while_a_side_is_ended_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C may land while the tee (on the main thread) waits to hand a side its end
    # marker: the side must still end, through run_split's own close.
    put = split._SideStream._put
    fired: list[int] = []

    def put_then_ctrl_c(self: Any, item: Any) -> bool:
        if item is split._END and not fired:
            fired.append(1)
            raise KeyboardInterrupt
        return put(self, item)

    monkeypatch.setattr(split._SideStream, "_put", put_then_ctrl_c)
    fileset = files(tmp_path, count=1)
    side = Side(table("s", "SELECT count(*) FROM {rel}"), everything)
    error = within(
        30,
        lambda: run_split(fileset, duckdb.connect(), every_row("m", "SELECT 1 FROM {rel}"), [side]),
    )
    assert isinstance(error, KeyboardInterrupt) and fired


def test_reading_threads_stop_when_the_stream_is_never_read(tmp_path: Path) -> None:
    fileset = files(tmp_path, count=2)
    side = Side(table("s", "SELECT count(*) FROM {rel}"), everything)
    with pytest.raises(duckdb.BinderException):  # the main query fails before reading
        run_split(fileset, duckdb.connect(), every_row("m", "SELECT nope FROM {rel}"), [side])
    deadline = time.monotonic() + 5
    while _readers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _readers() == []


def test_a_failing_side_stops_the_main_query_and_is_the_error(tmp_path: Path) -> None:
    fileset = files(tmp_path)
    side = Side(table("bad", "SELECT error('this side broke') FROM {rel}"), everything)
    main = every_row("m", "SELECT sum(r) FROM {rel}, range(100000000) t(r)")  # many minutes
    start = time.monotonic()
    error = within(60, lambda: run_split(fileset, duckdb.connect(), main, [side]))
    assert error is not None and "this side broke" in str(error)
    assert time.monotonic() - start < 10


def _readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "mtls-doctor-read"]


@pytest.fixture
def slow_plain_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileSet:
    """Files of successful lines only, read slowly: about 6 s in all, in scans of 100 lines.
    Folded, none of them is a row the main query below reads."""
    from datetime import timedelta

    from tests.diagnose.corpus import T0, entry

    lines = [entry(T0 + timedelta(seconds=i), "192.0.2.1", "Success") for i in range(3000)]
    paths = [str(write_corpus(tmp_path / f"f{i}", lines)) for i in range(2)]
    scan = native._linescan.scan

    def slow_scan(*args: Any) -> Any:
        time.sleep(0.1)
        return scan(*args)

    monkeypatch.setattr(native._linescan, "scan", slow_scan)
    monkeypatch.setattr(native, "MAX_LINES", 100)
    found = expand_inputs(paths, workdir=tmp_path)
    return FileSet(found.sources, tmp_path, found.unreadable)


FOLDING = routing.Routing(datetime(2100, 1, 1), fold=True)  # every success is "expiring"
FAILED_ONLY = frozenset({routing.FAILED, routing.DECLINED})


def test_a_failing_side_ends_a_read_whose_rows_the_main_query_never_sees(
    slow_plain_files: FileSet,
) -> None:
    main = Side(table("m", "SELECT count(*) FROM {rel}"), FAILED_ONLY)
    side = Side(table("s", "SELECT error('this side broke') FROM {rel}"), everything)
    start = time.monotonic()
    error = within(
        60, lambda: run_split(slow_plain_files, duckdb.connect(), main, [side], None, FOLDING)
    )
    assert error is not None and "this side broke" in str(error)
    assert time.monotonic() - start < 3  # not after the whole read


def test_ctrl_c_ends_a_read_whose_rows_the_main_query_never_sees(
    slow_plain_files: FileSet,
) -> None:
    import os
    import signal

    main = Side(table("m", "SELECT count(*) FROM {rel}"), FAILED_ONLY)
    side = Side(table("s", "SELECT count(*) FROM {rel}"), everything)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        # DuckDB reports a Ctrl-C during its query as its own "interrupted" error.
        with pytest.raises((KeyboardInterrupt, RuntimeError), match=r"^$|Query interrupted"):
            run_split(slow_plain_files, duckdb.connect(), main, [side], None, FOLDING)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 3.5  # not after the whole read
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as it was
    assert signal.set_wakeup_fd(-1) == -1  # put back
