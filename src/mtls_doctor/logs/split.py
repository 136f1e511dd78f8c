"""One read of the logs for several queries: a main query over every row, and side queries
over the few rows each of them needs.

Diagnose counts every row per status and minute, and asks detailed questions of a few (the
failed rows, the certificates close to expiry). Asked in one query, DuckDB types the detail
columns of every row and keeps them in a wide hash table, which cost more than the reading
itself; typed and grouped for the few rows that need them, they cost next to nothing. A
stream can be read only once, though. So with the compiled reader the batches are teed: each
goes to the main query, and the batches of the kinds a side reads (the scanner sorts the rows
of each chunk by a cheap test on raw fields, see ``routing.Routing``) go to that side's own
stream, which its own query reads at the same time, on its own cursor and thread. It needs
the compiled reader: without it each side would read the files again, and one table of every
row is cheaper.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from mtls_doctor.logs.reader import FileSet, forget_stream, register_stream, stream_failure

if TYPE_CHECKING:
    import pyarrow as pa

    from mtls_doctor.logs.routing import Routing

_AHEAD = 4  # batches a side's queue holds before the main stream waits for that side
_END = object()


@dataclass(frozen=True)
class Side:
    """A side query: ``query(relation)`` is its SQL over the parsed rows, and ``kinds`` the
    kinds of batch it reads (``routing.FAILED``, ``EXPIRING``, ``OTHER``, ``DECLINED``).
    The kinds must hold every row that ``query`` reads; the SQL makes the exact choice.
    Without ``reasons``, the relation's ``error`` only marks malformed lines (see
    ``parse.parse_sql``): for a query that asks no more than ``error IS NULL``."""

    query: Callable[[str], str]
    kinds: frozenset[str]
    reasons: bool = True


class _SideStream:
    """The rows one side may want, handed from the main stream to the side's query."""

    def __init__(self, side: Side) -> None:
        self.kinds = side.kinds
        self.items: queue.Queue[Any] = queue.Queue(_AHEAD)
        self.gone = threading.Event()  # its query ended (or failed): stop handing it rows
        self.closed = threading.Event()  # run_split is finishing: the stream ends here
        self.ended = False

    def give(self, batch: pa.RecordBatch, kind: str) -> None:
        if kind in self.kinds:
            self._put(batch)

    def end(self) -> None:
        if not self.ended and self._put(_END):
            self.ended = True

    def close(self) -> None:
        """End the stream once what is queued has been read, whatever else happened."""
        self.closed.set()

    def _put(self, item: Any) -> bool:
        while not (self.gone.is_set() or self.closed.is_set()):
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                item = self.items.get(timeout=0.1)
            except queue.Empty:
                if self.closed.is_set():
                    return
                continue
            if item is _END:
                return
            yield item


def _tee(
    pairs: Iterator[tuple[pa.RecordBatch, str]],
    main: frozenset[str],
    sides: Sequence[_SideStream],
) -> Generator[pa.RecordBatch, None, None]:
    # Runs in the thread DuckDB reads the main stream from. The scanner sorted the rows:
    # each batch is handed whole to the queries that read its kind.
    try:
        for batch, kind in pairs:
            for side in sides:
                side.give(batch, kind)
            if kind in main:
                yield batch
    finally:
        for side in sides:
            side.end()


def run_split(
    fileset: FileSet,
    con: duckdb.DuckDBPyConnection,
    main: Side,
    sides: Sequence[Side],
    params: dict[str, Any] | None = None,
    routing: Routing | None = None,
) -> pa.Table:
    """Run the ``main`` query and every side's over one read of ``fileset``.

    The queries must store their results in tables of ``con``'s database (not TEMP tables,
    which a cursor does not share), since each side runs on a cursor of its own. The
    ``routing`` is the reader's (see ``native.NativeReader``): lines it folds reach no
    query, and are returned counted (``routing.folded_schema``).
    """
    from mtls_doctor.logs import native

    if not native.available():
        raise RuntimeError("run_split needs the compiled reader (native.available())")
    import pyarrow as pa

    streams = [_SideStream(side) for side in sides]
    reader = native.NativeReader(fileset.sources, faults=fileset.faults, routing=routing)
    reader.numbered = fileset.numbered  # fed files (vended logs) are numbered as read
    pairs = reader.pairs()
    tee = _tee(pairs, main.kinds, streams)
    schema = native.schema()
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    cursors: list[duckdb.DuckDBPyConnection] = []
    try:
        for side, stream in zip(sides, streams, strict=True):
            cursors.append(con.cursor())
            batches = pa.RecordBatchReader.from_batches(schema, stream.batches())
            threads.append(
                _start_side(cursors[-1], side, batches, stream, params, errors, con, reader.stop)
            )
        stream = pa.RecordBatchReader.from_batches(schema, tee)
        name, relation = register_stream(con, stream, main.reasons)
        try:
            with _stop_on_sigint(reader.stop):
                _execute(con, name, main.query(relation), params)
        except duckdb.InterruptException:
            if errors:  # a side failed and stopped the main query: report the side's error
                raise errors[0] from None
            raise
    finally:
        tee.close()
        for stream in streams:  # also when DuckDB never started reading the tee
            stream.end()
            stream.close()
        _join(threads, cursors)
        pairs.close()
        reader.stop()  # also when the stream never started
    if errors:
        raise errors[0]
    return reader.folded()


def _start_side(
    cursor: duckdb.DuckDBPyConnection,
    side: Side,
    batches: Any,
    stream: _SideStream,
    params: dict[str, Any] | None,
    errors: list[BaseException],
    main: duckdb.DuckDBPyConnection,
    stop: Callable[[], None],
) -> threading.Thread:
    name, relation = register_stream(cursor, batches, side.reasons)
    thread = threading.Thread(
        target=_run_side,
        args=(cursor, name, side.query(relation), params, stream, errors, main, stop),
        name="mtls-doctor-side",
        daemon=True,
    )
    thread.start()
    return thread


def _join(threads: Sequence[threading.Thread], cursors: Sequence[Any]) -> None:
    """Wait for the side queries; a Ctrl-C meanwhile stops them first (and is re-raised),
    so that nothing still reads the files, or their spill folder, once run_split returns."""
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        for cursor in cursors:
            with contextlib.suppress(duckdb.Error):  # closed once its query ended
                cursor.interrupt()
        for thread in threads:
            thread.join()
        raise


def _run_side(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    sql: str,
    params: dict[str, Any] | None,
    stream: _SideStream,
    errors: list[BaseException],
    main: duckdb.DuckDBPyConnection,
    stop_reading: Callable[[], None],
) -> None:
    try:
        _execute(cursor, name, sql, params)
    except BaseException as error:  # reported by run_split, in the caller's thread
        errors.append(error)
        main.interrupt()  # no use reading on: the run fails with this error
        stop_reading()  # the main query may be waiting for a batch it reads: end its stream
    finally:
        stream.gone.set()
        cursor.close()


def _used(params: dict[str, Any] | None, sql: str) -> dict[str, Any]:
    # DuckDB refuses named parameters that the text does not use.
    return {k: v for k, v in (params or {}).items() if f"${k}" in sql}


def _execute(
    con: duckdb.DuckDBPyConnection, name: str, sql: str, params: dict[str, Any] | None
) -> None:
    try:
        con.execute(sql, _used(params, sql))
    except duckdb.Error as error:
        raise stream_failure(error, name) or error from error
    finally:
        forget_stream(con, name)


@contextlib.contextmanager
def _stop_on_sigint(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C also ends the reading. DuckDB may be waiting, in a reading thread, for the
    next batch the main query reads, which may come only at the end of the files when it
    reads few kinds; the main thread meanwhile waits inside DuckDB, where Python's handler
    does not run. Python's own C handler still writes the signal to the wakeup fd at once:
    a watching thread reads it there and stops the reader. Only in the main thread, and only
    where Python handles SIGINT (an ignored SIGINT stays ignored)."""
    import signal

    if threading.current_thread() is not threading.main_thread() or not callable(
        signal.getsignal(signal.SIGINT)
    ):
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watcher = threading.Thread(
        target=_watch, args=(read_end, previous, stop), name="mtls-doctor-sigint", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write_end)  # the watcher reads the end of the pipe and returns
        watcher.join()
        os.close(read_end)


def _watch(read_end: int, forward: int, stop: Callable[[], None]) -> None:
    import signal

    while data := os.read(read_end, 64):
        if signal.SIGINT in data:
            stop()
        if forward >= 0:  # someone else's wakeup fd (an asyncio loop): pass the signals on
            with contextlib.suppress(OSError):
                os.write(forward, data)
