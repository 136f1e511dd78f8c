"""The compiled reader's limits on hostile input: memory, threads, faults (from a review)."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import duckdb
import pytest

from mtls_doctor.logs import faults
from mtls_doctor.logs.api import open_selection
from mtls_doctor.logs.parse import MAX_LINE_BYTES
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.sources import LogSource
from tests.logs.corpus import line

_linescan = pytest.importorskip("mtls_doctor.logs._linescan")

from mtls_doctor.logs import chunks  # noqa: E402  (after the skip: needs the extension)
from tests.logs.test_linescan import _same  # noqa: E402


def _reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mtls-doctor-read" and t.is_alive()]


def _wait_for_no_reading_threads(seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while _reading_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _reading_threads()


def test_scan_reads_at_most_max_lines_per_call() -> None:
    data = b"x\n" * 10 + line().encode() + b"\n"
    rows, _, _, lines, declined, _, consumed, _, _, _ = _linescan.scan(data, MAX_LINE_BYTES, 3)
    assert (rows, lines, len(declined), consumed) == (0, 3, 3, 6)
    rows, _, _, lines, declined, _, consumed, _, _, _ = _linescan.scan(data[20:], MAX_LINE_BYTES, 3)
    assert (rows, lines, declined, consumed) == (1, 1, [], len(data) - 20)
    with pytest.raises(ValueError):
        _linescan.scan(data, MAX_LINE_BYTES, 0)


def test_a_line_with_no_end_is_cut_and_memory_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 MiB without a line end, inside a file of good lines: one chunk never holds it whole.
    body = (line() + "\n").encode() + b"A" * (3 << 20) + b"\n" + (line() + "\n").encode()
    path = tmp_path / "conn_log_long.log.gz"
    path.write_bytes(gzip.compress(body))
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 256 * 1024)
    state = chunks.FileState()
    source = LogSource(str(path), path, gzip=True, size=0)
    sizes = [len(c) for c in chunks.chunks(source, state, threading.Event())]
    assert max(sizes) <= 256 * 1024 + MAX_LINE_BYTES + faults.FEED_BYTES * 8
    assert sum(sizes) < len(body) // 2  # the bulk of the long line was skipped
    result = _same([path], monkeypatch)  # and the reading agrees with DuckDB's, line cut
    assert len(result["rows"]) == 2 and result["stats"]["malformed"] == 1
    (fault,) = result["stats"]["faults"]
    assert "longer than" in fault[1]


def test_a_cr_only_file_is_chunked_at_cr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conn_log_cr.log"
    path.write_bytes("".join(line(port=str(i)) + "\r" for i in range(1, 700)).encode())
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 64 * 1024)
    result = _same([path], monkeypatch)
    assert len(result["rows"]) == 699 and not result["stats"]["faults"]


def test_a_failing_query_lets_its_reading_threads_go(tmp_path: Path) -> None:
    path = tmp_path / "conn_log_a.log"
    path.write_text("".join(line(port=str(i)) + "\n" for i in range(1, 50)))
    with open_selection([str(path)]) as sel:
        with pytest.raises(duckdb.Error):
            sel._run(lambda rel: f"SELECT no_such_column FROM {rel}", {}, lambda c: c.fetchall())
        assert _wait_for_no_reading_threads()  # while the connection is still open
        assert sum(r[-1] for r in sel.count_by(Filters(), ["listener_port"]).rows) == 49
        assert _wait_for_no_reading_threads()


def test_a_partly_read_stream_lets_its_threads_go(tmp_path: Path) -> None:
    path = tmp_path / "conn_log_a.log"
    path.write_text("".join(line(port=str(i)) + "\n" for i in range(1, 5000)))
    with open_selection([str(path)]) as sel:
        first = sel._run(
            lambda rel: f"SELECT client_port FROM {rel} LIMIT 1", {}, lambda c: c.fetchall()
        )
        assert len(first) == 1
        assert _wait_for_no_reading_threads()


def test_pure_repair_blames_the_file_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "a.log" is a prefix of "a.log.gz": only the truncated gzip may carry the fault.
    good = tmp_path / "conn_log_a.log"
    good.write_text(line() + "\n")
    bad = tmp_path / "conn_log_a.log.gz"
    data = gzip.compress("".join(line(port=str(i)) + "\n" for i in range(1, 300)).encode())
    bad.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    with open_selection([str(good), str(bad)]) as sel:
        sel.count_by(Filters(), ["tls_verify_status"])
        faults = [(f.file, f.message) for f in sel.stats.faults]
    assert [f for f, _ in faults] == [str(bad)]


def test_a_truncated_gzip_fault_is_worded_in_bounded_memory(tmp_path: Path) -> None:
    from mtls_doctor.logs.faults import TRUNCATED_GZIP, gzip_fault

    path = tmp_path / "conn_log_t.log.gz"
    data = gzip.compress(b"A" * (64 << 20))  # 64 MiB inflated
    path.write_bytes(data[:-100])
    assert gzip_fault(path) == TRUNCATED_GZIP
    whole = tmp_path / "conn_log_w.log.gz"
    whole.write_bytes(data)
    assert gzip_fault(whole) is None
