"""A vended log as a feed of legacy lines: what every reader reads in its place.

A vended file (or an S3 object as it downloads) becomes a :class:`~mtls_doctor.logs.sources.
LogSource` whose ``feed`` gives, as its bytes, the equivalent legacy connection-log lines,
one per record, in record order (:mod:`.lines`). Its ``sha256`` is that of the original
bytes, which the store deduplicates on. The compiled reader reads the feed as it reads an
S3 download; the pure reader gets a plain copy (:func:`materialize`).

A record that cannot be read is a line the readers report as malformed (with its line
number); a fault that ends the file early (a truncated gzip) raises
:class:`~mtls_doctor.logs.faults.FeedFault` after the lines before it.

Parquet is read by ``parquet.py`` (hook: ``legacy_pieces(handle)``, a seekable binary file,
giving pieces of legacy-line bytes); a streamed Parquet object is spooled to a temporary
file first, since its footer comes last. The compiled reader reads a Parquet file on disk,
or a download once spooled (:meth:`SniffingFeed.spooled`), from its columns instead
(``columnar.py``), and only the rows it declines as these lines.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mtls_doctor.logs.faults import FeedFault, inflate_pieces
from mtls_doctor.logs.vended import jsonl, text
from mtls_doctor.logs.vended.detect import JSONL, PARQUET, SNIFF_BYTES, Detected, sniff

BLOCK_BYTES = 4 * 1024 * 1024  # of inflated text converted at once: bounds memory per file
MAX_RECORD_BYTES = 1024 * 1024  # of one line (a record is under 2 KiB): the rest is dropped
_READ_BYTES = 1024 * 1024


class _Fed(Protocol):  # sources.Feed, restated: sources imports this module
    @property
    def sha256(self) -> str | None: ...

    @property
    def failure(self) -> str | None: ...

    @property
    def error(self) -> Exception | None: ...

    def open(self) -> Any: ...

    def close(self) -> None: ...


class _Prefixed:
    """A stream with its first bytes, already taken for sniffing, put back in front."""

    def __init__(self, head: bytes, handle: Any) -> None:
        self.head, self.handle = head, handle

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return bytes(self.handle.read(size))
        if 0 <= size < len(self.head):
            data, self.head = self.head[:size], self.head[size:]
            return data
        data, self.head = self.head, b""
        more = size - len(data) if size >= 0 else -1
        return data + (bytes(self.handle.read(more)) if more else b"")


def text_blocks(raw: Any, gzip: bool) -> Iterator[bytes | memoryview]:
    """The inflated bytes of ``raw`` as blocks of whole lines, in order (the last one may
    lack its line end). Not copied where it can be helped: a piece of inflated bytes goes on
    as a view, and only the line it cuts in two is put together. A gzip fault raises
    FeedFault after the complete lines; a line over MAX_RECORD_BYTES keeps only its head."""
    pieces: Iterator[bytes]
    if gzip:
        from isal import isal_zlib

        pieces = inflate_pieces(raw, isal_zlib, BLOCK_BYTES)
    else:
        pieces = iter(lambda: bytes(raw.read(BLOCK_BYTES)), b"")
    carry, first, skipping = b"", True, False
    while True:
        try:
            piece = next(pieces)
        except StopIteration as end:
            fault: str | None = end.value
            break
        if first:
            piece, first = piece.removeprefix(b"\xef\xbb\xbf"), False
        start = piece.find(b"\n") + 1
        if not start:  # no line end: the line goes on
            if not skipping:
                carry += piece
                skipping = len(carry) > MAX_RECORD_BYTES
                carry = carry[:MAX_RECORD_BYTES]
            continue
        yield carry + piece[:start]
        carry, skipping = b"", False
        stop = piece.rfind(b"\n") + 1
        if stop > start:
            yield memoryview(piece)[start:stop]
        carry = piece[stop:]
    if carry and fault is None:  # a last line without its end (a record cut off by a fault
        yield carry  # is not one)
    if fault is not None:
        raise FeedFault(fault)


def legacy_pieces(raw: Any, found: Detected) -> Iterator[bytes]:
    """The legacy lines of a vended log whose raw bytes ``raw`` gives (``found`` says how
    it is written), in pieces that each end with a line end."""
    if found.format == PARQUET:
        yield from _parquet(raw)
    elif found.format == JSONL:
        for block in text_blocks(raw, found.gzip):
            yield jsonl.legacy_block(block)
    else:
        converter = text.Converter(found)
        for block in text_blocks(raw, found.gzip):
            yield converter.legacy_block(block)


def _parquet(raw: Any) -> Iterator[bytes]:
    try:
        from mtls_doctor.logs.vended import parquet  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise FeedFault("Parquet logs cannot be read by this version") from None
    if hasattr(raw, "seek"):
        yield from parquet.legacy_pieces(raw)
        return
    with tempfile.TemporaryFile() as spool:  # a download: its footer comes last
        shutil.copyfileobj(raw, spool, _READ_BYTES)
        spool.seek(0)
        yield from parquet.legacy_pieces(spool)


class _Stream:
    """A feed's stream over pieces of bytes. ``read(n)`` gives at most ``n`` bytes, fewer
    only where a piece ends (every piece ends at a line end) or at the end: the readers take
    what comes until ``b""``, and a piece is passed on without being copied."""

    def __init__(self, pieces: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self.pieces, self.on_close = pieces, on_close
        self.rest: bytes | memoryview = b""

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.on_close()

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data = b"".join([bytes(self.rest), *self.pieces])
            self.rest = b""
            return data
        while not self.rest:
            piece = next(self.pieces, None)
            if piece is None:
                return b""
            self.rest = piece
        if len(self.rest) <= size:
            rest, self.rest = self.rest, b""
            return rest if isinstance(rest, bytes) else bytes(rest)
        view = memoryview(self.rest)
        data, self.rest = bytes(view[:size]), view[size:]
        return data


class VendedFeed:
    """A vended file on disk, read as legacy lines (a ``sources.Feed``). Its ``sha256``
    (of the file's own bytes) is computed when asked for: only an ingest asks."""

    def __init__(self, path: Path, found: Detected) -> None:
        self.path, self.found = path, found
        self.failure: str | None = None
        self.error: Exception | None = None
        self._sha256: str | None = None

    @property
    def sha256(self) -> str | None:
        if self._sha256 is None:
            try:
                with self.path.open("rb") as handle:
                    self._sha256 = _sha256(handle)
            except OSError:
                return None
        return self._sha256

    def open(self) -> _Stream:
        handle: BinaryIO = self.path.open("rb")
        return _Stream(legacy_pieces(handle, self.found), handle.close)

    def close(self) -> None:
        return None


class SniffingFeed:
    """A download (an S3 object) whose format is told by its first bytes as they arrive:
    a legacy log is passed through as it is, a vended one converted. The compiled reader
    takes a Parquet download as a spooled file instead (:meth:`spooled`)."""

    def __init__(self, inner: _Fed) -> None:
        self.inner = inner
        # The stream, its head and format, when sniffed before open() (by spooled()).
        self._sniffed: tuple[Any, bytes, Detected] | None = None

    @property
    def sha256(self) -> str | None:
        return self.inner.sha256

    @property
    def failure(self) -> str | None:
        return self.inner.failure

    @property
    def error(self) -> Exception | None:
        return self.inner.error

    def _sniff(self) -> tuple[Any, bytes, Detected]:
        if self._sniffed is None:
            stream = self.inner.open()
            try:
                head = _read_head(stream)
            except BaseException:  # refused, cut off: the download's slot is given back
                stream.__exit__(None, None, None)
                raise
            self._sniffed = stream, head, sniff(head)
        return self._sniffed

    def open(self) -> Any:
        stream, head, found = self._sniff()
        self._sniffed = None
        if not found.vended:
            return _Passed(_Prefixed(head, stream), stream)
        pieces = legacy_pieces(_Prefixed(head, stream), found)
        return _Stream(pieces, lambda: stream.__exit__(None, None, None))

    def close(self) -> None:
        self.inner.close()

    @contextmanager
    def spooled(self, stop: threading.Event) -> Iterator[Path | None]:
        """A Parquet download's name as a file once all of it is spooled there, for
        ``columnar.py``; None for any other format, which :meth:`open` then reads. Whatever
        ends the block, the download is let go and the spool leaves nothing behind."""
        stream, head, found = self._sniff()
        if found.format != PARQUET:
            try:
                yield None
            finally:
                if self._sniffed is not None:  # sniffed, never opened: stopped before
                    self._sniffed = None
                    stream.__exit__(None, None, None)
            return
        self._sniffed = None
        try:
            with _spool() as (handle, name):
                handle.write(head)
                while not stop.is_set() and (block := stream.read(_READ_BYTES)):
                    handle.write(block)
                handle.flush()
                yield name
        finally:
            stream.__exit__(None, None, None)


@contextmanager
def _spool(open_files: Path = Path("/proc/self/fd")) -> Iterator[tuple[Any, Path]]:
    """A temporary file and a name Arrow can open it by. Where ``open_files`` names open
    files (Linux), the file has no name of its own: nothing is left behind, whatever ends
    the process. Elsewhere it is named, and removed when closed."""
    with tempfile.TemporaryFile() as handle:
        name = open_files / str(handle.fileno())
        if name.exists():
            yield handle, name
            return
    with tempfile.NamedTemporaryFile() as named:
        yield named, Path(named.name)


class _Passed:
    """The original stream, with its sniffed head put back."""

    def __init__(self, prefixed: _Prefixed, stream: Any) -> None:
        self.prefixed, self.stream = prefixed, stream

    def __enter__(self) -> _Passed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.__exit__(*exc)

    def read(self, size: int = -1) -> bytes:
        return self.prefixed.read(size)


def _read_head(stream: Any) -> bytes:
    # A gzip head inflates to many times its size: a few KiB tell the format.
    return bytes(stream.read(SNIFF_BYTES // 4))


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := handle.read(_READ_BYTES):
        digest.update(block)
    return digest.hexdigest()


def materialize(feed: _Fed, target: Path) -> tuple[int, int, str | None]:
    """Write what ``feed`` reads as (legacy lines) to ``target``, for a reader that reads
    files: its size, its lines, and the fault that ended it early (None when read whole)."""
    size = lines = 0
    with target.open("wb") as out:
        try:
            with feed.open() as stream:
                while piece := stream.read(BLOCK_BYTES):
                    out.write(piece)
                    size += len(piece)
                    lines += piece.count(b"\n")
        except FeedFault as fault:
            return size, lines, fault.message
    return size, lines, None
