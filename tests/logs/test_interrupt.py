"""Ctrl-C while the compiled reader's stream is read: exit 130, not a reading error.

DuckDB pulls the reader's Python generator from whichever thread runs the scan, the main
thread included. Ctrl-C then raises KeyboardInterrupt inside the generator, and DuckDB reports
it as a failed read of the stream. These tests raise it there, as a signal would, and check
that it comes out as KeyboardInterrupt (exit 130), with nothing left running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.logs import chunks, native, routing
from mtls_doctor.logs.reader import FileSet, stream_failure
from mtls_doctor.logs.sources import expand_inputs
from mtls_doctor.logs.split import Side, run_split
from tests.diagnose.corpus import crafted_lines, write_corpus

pytestmark = pytest.mark.skipif(not native.available(), reason="the compiled scanner")


@pytest.fixture
def interrupted_after_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = native.NativeReader.pairs

    def ctrl_c_midway(self: native.NativeReader) -> Iterator[Any]:
        for number, pair in enumerate(pairs(self)):
            if number == 1:
                raise KeyboardInterrupt
            yield pair

    monkeypatch.setattr(native.NativeReader, "pairs", ctrl_c_midway)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4096)  # several batches from a small file


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "logs", crafted_lines() * 20)


def fileset(path: Path, workdir: Path) -> FileSet:
    scan = expand_inputs([str(path)], workdir=workdir)
    return FileSet(scan.sources, workdir, scan.unreadable)


def test_a_failed_read_caused_by_ctrl_c_is_an_interrupt() -> None:
    error = duckdb.InvalidInputException(
        "Invalid Input Error: reading the stream registered as 'lines_3' failed: Unknown "
        "error: . Detail: Python exception: Traceback (most recent call last):\nKeyboardInterrupt\n"
    )
    assert isinstance(stream_failure(error, "lines_3"), KeyboardInterrupt)
    # Seen when Ctrl-C lands while DuckDB pushes a filter down into the stream (exit 3 then).
    pushed = duckdb.InvalidInputException(
        "Invalid Input Error: offering a filter to the source registered as 'lines_3' failed: "
        "KeyboardInterrupt: "
    )
    assert isinstance(stream_failure(pushed, "lines_3"), KeyboardInterrupt)
    other = duckdb.InvalidInputException("reading the stream registered as 'lines_3' failed: x")
    assert not isinstance(stream_failure(other, "lines_3"), KeyboardInterrupt)
    assert stream_failure(error, "lines_4") is None  # not our stream
    binder = duckdb.BinderException("column x not found; candidate bindings: 'lines_3'.c1")
    assert stream_failure(binder, "lines_3") is None  # names the stream, but not a read


@pytest.mark.usefixtures("interrupted_after_one_batch")
def test_reading_raises_keyboard_interrupt(logs: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        fileset(logs, tmp_path).run(
            duckdb.connect(), lambda rel: f"SELECT count(*) FROM {rel}", lambda c: c.fetchall()
        )


@pytest.mark.usefixtures("interrupted_after_one_batch")
def test_one_pass_with_sides_raises_it_and_stops(logs: Path, tmp_path: Path) -> None:
    caught: list[BaseException] = []

    def run() -> None:
        side = Side(lambda rel: f"CREATE TABLE s AS SELECT count(*) FROM {rel}", _everything)
        try:
            run_split(
                fileset(logs, tmp_path),
                duckdb.connect(),
                Side(lambda rel: f"CREATE TABLE m AS SELECT count(*) FROM {rel}", _everything),
                [side],
            )
        except BaseException as error:
            caught.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the side query was left waiting"
    assert len(caught) == 1 and isinstance(caught[0], KeyboardInterrupt)


@pytest.mark.usefixtures("interrupted_after_one_batch")
@pytest.mark.parametrize(
    "command", [["logs", "query", "--count-by", "tls_verify_status"], ["diagnose"]]
)
def test_the_cli_exits_130(logs: Path, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, str(logs)])
    assert result.exit_code == 130, result.output
    assert result.stderr == "interrupted\n"


_everything = frozenset({routing.FAILED, routing.EXPIRING, routing.OTHER, routing.DECLINED})


def test_a_real_sigint_stops_a_long_read(tmp_path: Path) -> None:
    # A real signal, delivered while a large plain file (1M lines) is being read.
    line = crafted_lines()[70]
    name = "conn_log_123456789012_elasticloadbalancing_us-east-1_app.x.y_20240405T1315Z_a.log"
    big = tmp_path / name
    with big.open("w", encoding="utf-8") as handle:
        for _ in range(20):
            handle.write((line + "\n") * 50_000)
    command = [sys.executable, "-m", "mtls_doctor", "diagnose", str(big)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.8)  # start-up (about 0.4 s), then reading
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 1:  # finished before the signal: this machine is too fast
        pytest.skip("the read ended before Ctrl-C")
    assert proc.returncode == 130 and err.decode() == "interrupted\n"
