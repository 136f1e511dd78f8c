"""The fast reader: ISA-L inflate and the compiled line scanner, on all cores, as Arrow batches.

DuckDB's own gzip reader and SQL string splitting cost several times what inflating the
files does. When the optional C extension ``_linescan`` was built at install time (and
``pyarrow`` is there), files are instead read by a pool of threads: each inflates its file
with ISA-L and hands chunks of lines to the scanner, which certifies each line and splits it
into its 15 fields without holding the GIL. DuckDB then reads the batches as an Arrow stream
and only types the columns a query uses.

A Parquet file (on disk, or a download once spooled) is not turned into lines first: the
scanner certifies its rows from their Arrow columns, with the same field checks, and only the
rows it declines are written as lines (``vended/columnar.py``, ``linescan_columns.c``).

Lines the scanner does not certify are handed to the SQL parser as text, exactly as DuckDB's
``read_csv`` would have seen them (:func:`mtls_doctor.logs.reader.duckdb_parts`), so malformed
lines are found and explained by one parser whichever reader ran. Faults are those of the
repair path in ``reader.py``: a corrupt or truncated gzip keeps the complete lines before the
fault, and bytes that are not UTF-8 are replaced and reported.

Set ``MTLS_DOCTOR_PURE=1`` to use DuckDB's reader even when the extension is there.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mtls_doctor.logs.batches import Batcher
from mtls_doctor.logs.batches import schema as schema  # the batches' schema, for callers
from mtls_doctor.logs.chunks import FileState, chunks
from mtls_doctor.logs.faults import NOT_UTF8, FeedFault, FileFault
from mtls_doctor.logs.lines import long_lines_fault
from mtls_doctor.logs.parse import MAX_LINE_BYTES
from mtls_doctor.logs.routing import (
    DECLINED,
    EXPIRING,
    FAILED,
    OTHER,
    Routing,
    folded_batch,
    folded_schema,
)
from mtls_doctor.logs.sources import LogSource

if TYPE_CHECKING:
    import pyarrow as pa

try:
    from mtls_doctor.logs import _linescan
except ImportError:  # built only where a C compiler was present at install time
    _linescan = None  # type: ignore[assignment]

MAX_LINES = 64 * 1024  # lines per scan call: bounds it too when lines are short
_AHEAD = 2  # batches a thread may hold before the reader takes them


def available() -> bool:
    """True when the compiled scanner and pyarrow can be used (and are not switched off)."""
    if _linescan is None or os.environ.get("MTLS_DOCTOR_PURE"):
        return False
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def tune_allocator() -> None:
    assert _linescan is not None
    _linescan.keep_freed_memory()  # once per process: see _linescan.c


def _hand_over(out: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return
        except queue.Full:
            continue


_ROUTES = (FAILED, EXPIRING, OTHER)  # in the order the scanner returns its rows


def _read_file(
    source: LogSource,
    out: queue.Queue[Any],
    stop: threading.Event,
    routing: tuple[int | None, bool, int | None, int | None] | None,
    chunk_bytes: int | None = None,
    trace_ids: bool = False,
) -> None:
    """Scan one file into ``out``: ``(batch, kind)`` pairs, then its :class:`FileState`."""
    # A fed file cannot be read again to number its malformed lines: they are numbered now.
    state = FileState(numbered={} if source.feed is not None else None)
    try:
        scanner = _Scanner(source, state, out, stop, routing, trace_ids)
        with _parquet_file(source, stop) as parquet:
            if parquet is not None:
                scanner.parquet(parquet)
            else:
                for chunk in chunks(source, state, stop, chunk_bytes):
                    if not scanner.lines(memoryview(chunk)):
                        return
    except FeedFault as fault:  # a Parquet file read as columns: the rows before it stand
        state.faults.append(FileFault(source.display, fault.message, 0))
    except OSError as error:
        state.faults.append(FileFault(source.display, f"cannot read: {error.strerror}", 0))
    except BaseException as error:  # handed to the reading thread, which raises it
        _hand_over(out, error, stop)
    finally:
        _hand_over(out, state, stop)


def _parquet_file(source: LogSource, stop: threading.Event) -> AbstractContextManager[Any]:
    if source.feed is None:  # a legacy file: the vended readers are not imported
        return nullcontext()
    from mtls_doctor.logs.vended import columnar

    return columnar.parquet_file(source.feed, stop)


class _Scanner:
    """Hands the scanner's output for one file to ``out``, and counts its lines."""

    def __init__(
        self,
        source: LogSource,
        state: FileState,
        out: queue.Queue[Any],
        stop: threading.Event,
        routing: tuple[int | None, bool, int | None, int | None] | None,
        trace_ids: bool,
    ) -> None:
        self.source, self.state, self.out, self.stop = source, state, out, stop
        self.routing, self.trace_ids = routing, trace_ids
        self.batcher = Batcher(source, state)

    def lines(self, view: memoryview, rows: list[int] | None = None) -> bool:
        """Scan the lines of ``view``; with ``rows``, line *i* of it is line ``rows[i]`` of
        the file's lines not yet counted (the others were read as columns). False when the
        scanner's limits stopped the file (a fault is then noted)."""
        assert _linescan is not None
        base = 0
        while view and not self.stop.is_set():
            try:
                scanned = _linescan.scan(
                    view, MAX_LINE_BYTES, MAX_LINES, self.routing, self.trace_ids
                )
            except (ValueError, MemoryError) as error:  # the scanner's limits
                self._limit(error)
                return False
            self._certified(scanned)
            declined, lines = scanned[4], scanned[3]
            if rows is not None:
                declined = [(rows[base + index], line) for index, line in declined]
            batch = self.batcher.declined(self.state.lines, declined)
            if batch is not None:
                _hand_over(self.out, (batch, DECLINED), self.stop)
            if rows is None:
                self.state.lines += lines
            base += lines
            view = view[scanned[6] :]
        return True

    def parquet(self, path: Any) -> None:
        """Scan the rows of the Parquet file ``path`` from its columns; the rows the scanner
        declines are written as their legacy lines and scanned as lines."""
        assert _linescan is not None
        from mtls_doctor.logs.vended import columnar

        kept: columnar.Kept = {}
        if self.stop.is_set():  # a download stopped while spooled is not all there
            return
        for batch in columnar.batches(path):
            if self.stop.is_set():
                return
            columns = columnar.field_columns(batch, kept)
            first, odd, rows = 0, [], batch.num_rows
            while first < rows:
                try:
                    scanned = _linescan.scan_columns(
                        columns, first, rows, MAX_LINE_BYTES, self.routing, self.trace_ids
                    )
                except (ValueError, MemoryError) as error:
                    self._limit(error)
                    return
                self._certified(scanned)
                odd += [index for index, _ in scanned[4]]
                first += scanned[3]
            if odd and not self.lines(memoryview(columnar.odd_lines(batch, odd)), odd):
                return
            self.state.lines += rows

    def _limit(self, error: BaseException) -> None:
        self.state.faults.append(FileFault(self.source.display, f"cannot read: {error}", 0))

    def _certified(self, scanned: Any) -> None:
        rows, per_route, folded = scanned[0], scanned[9], scanned[7]
        if (counts := folded_batch(folded)) is not None:
            self.state.folded.append(counts)
        if rows:  # ordered by route: each route is one slice (no copy)
            batch, start = self.batcher.certified(rows, scanned), 0
            for kind, count in zip(_ROUTES, per_route, strict=True):
                if count:
                    _hand_over(self.out, (batch.slice(start, count), kind), self.stop)
                start += count


@dataclass
class _Workers:
    """The reading threads of one stream and what they share with it."""

    out: list[queue.Queue[Any]]  # per file: batches, then its FileState
    files: queue.Queue[int | None] = field(default_factory=queue.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[threading.Event] = field(default_factory=list)
    alive: Callable[[], object] = lambda: True  # the stream's generator, while it exists


class NativeReader:
    """Every file's rows as one Arrow stream, files in the order given, read in parallel.

    Each batch holds rows of one kind, which :meth:`pairs` tells: ``DECLINED`` (lines the
    scanner left to the SQL parser) or, for certified lines, ``OTHER`` (in the order read)
    unless a :class:`Routing` is given. Then the certified rows of a chunk come as up to
    three batches: ``FAILED``, ``EXPIRING`` (status ``Success``, NotAfter before the
    routing's horizon) and ``OTHER``; with ``fold``, the lines are also counted, and
    ``OTHER`` ones not returned (see :class:`Routing`). ``chunk_bytes`` is the text scanned
    per call (``chunks.CHUNK_BYTES`` unless given): each thread holds a few such chunks and
    their batches. With ``trace_ids``, the ``tid`` column holds the trace ids as UUIDs (what
    ingest stores); otherwise it is null, which spares every other read that work.
    """

    def __init__(
        self,
        sources: Sequence[LogSource],
        faults: list[FileFault] | None = None,
        workers: int | None = None,
        routing: Routing | None = None,
        chunk_bytes: int | None = None,
        trace_ids: bool = False,
    ) -> None:
        self.sources = list(sources)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.faults: list[FileFault] = faults if faults is not None else []
        self.routing = None if routing is None else routing.for_scan()
        self.chunk_bytes, self.trace_ids = chunk_bytes, trace_ids
        self._folded: list[pa.RecordBatch] = []
        self.numbered: dict[str, dict[str, int]] = {}  # of fed files: see FileState
        # Files read to their end: while a batch is handed out, the index of its file.
        self.finished = 0
        self._workers: _Workers | None = None

    def folded(self) -> pa.Table:
        """The counts of folded lines (``folded_schema``), of the files read to their end."""
        import pyarrow as pa

        return pa.Table.from_batches(self._folded, schema=folded_schema())

    def reader(self) -> pa.RecordBatchReader:
        """The stream; its threads start now, in the calling thread (see :meth:`_batches`)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(schema(), (b for b, _ in self.pairs()))

    def pairs(self) -> Generator[tuple[pa.RecordBatch, str], None, None]:
        """Each batch with the kind of its rows; the threads start now."""
        tune_allocator()
        workers = self._start()
        self._workers = workers
        batches = self._batches(workers)
        # A stream that DuckDB never starts never runs its `finally`: the workers then stop
        # when the generator is gone.
        workers.alive = weakref.ref(batches)
        return batches

    def stop(self) -> None:
        """Stop the reading threads now, even if the stream was never read (a generator
        that never started does not run its ``finally``)."""
        workers = self._workers
        if workers is not None and not workers.stop.is_set():
            workers.stop.set()
            for _ in workers.done:
                workers.files.put(None)

    def _start(self) -> _Workers:
        workers = _Workers([queue.Queue(_AHEAD) for _ in self.sources])
        for _ in range(min(self.workers, len(self.sources))):
            done = threading.Event()
            thread = threading.Thread(
                target=self._work, args=(workers, done), name="mtls-doctor-read", daemon=True
            )
            thread.start()
            workers.done.append(done)
        return workers

    def _work(self, workers: _Workers, done: threading.Event) -> None:
        try:
            while not workers.stop.is_set():
                try:
                    index = workers.files.get(timeout=0.5)
                except queue.Empty:
                    if workers.alive() is None:
                        return
                    continue
                if index is None:
                    return
                out, stop = workers.out[index], workers.stop
                _read_file(
                    self.sources[index], out, stop, self.routing, self.chunk_bytes, self.trace_ids
                )
        finally:
            done.set()

    def _batches(self, workers: _Workers) -> Generator[tuple[pa.RecordBatch, str], None, None]:
        # DuckDB pulls this generator from its own threads. Nothing here may create a thread
        # or call threading.current_thread() (which would leave a _DummyThread behind), so
        # the workers were started by reader() and are told what to read through a queue.
        # At most `len(done)` files are in flight: memory does not grow with the input.
        try:
            for index in range(len(workers.done)):
                workers.files.put(index)
            for index, source in enumerate(self.sources):
                while True:
                    try:
                        item = workers.out[index].get(timeout=0.1)
                    except queue.Empty:
                        if workers.stop.is_set():  # stopped from outside (a side failed)
                            return
                        continue
                    if isinstance(item, FileState):
                        break
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                self._finish(source, item)
                workers.out[index] = queue.Queue()  # let its memory go
                if index + len(workers.done) < len(self.sources):
                    workers.files.put(index + len(workers.done))
        finally:
            workers.stop.set()  # threads still reading notice within one chunk
            for _ in workers.done:
                workers.files.put(None)
            for done in workers.done:
                done.wait()

    def _finish(self, source: LogSource, state: FileState) -> None:
        self.finished += 1
        self._folded += state.folded
        if state.numbered is not None:
            self.numbered[source.display] = state.numbered
        for fault in state.faults:
            self.faults.append(FileFault(fault.file, fault.message, state.lines))
        if not state.faults and state.bad_bytes:
            self.faults.append(FileFault(source.display, NOT_UTF8, state.lines, complete=True))
        elif not state.faults and state.long_lines:
            message = long_lines_fault(state.long_lines)
            self.faults.append(FileFault(source.display, message, state.lines, complete=True))
