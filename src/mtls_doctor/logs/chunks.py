"""A log file's bytes, inflated with ISA-L, in chunks of lines of bounded size, with what
reading found besides the lines: for the compiled reader (``native.py``), and for the
repairs of the other (``reader.repair``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mtls_doctor.logs.faults import (
    TRUNCATED_GZIP,
    FeedFault,
    FileFault,
    gzip_fault,
    inflate_pieces,
)
from mtls_doctor.logs.parse import MAX_LINE_BYTES
from mtls_doctor.logs.sources import GZIP_MAGIC, LogSource

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_BYTES = 8 * 1024 * 1024  # bytes of lines scanned per batch: bounds memory per thread


@dataclass
class FileState:
    """What reading one file found besides its rows."""

    lines: int = 0  # physical lines seen so far (the number of the next line, minus one)
    bad_bytes: bool = False
    long_lines: int = 0
    faults: list[FileFault] = field(default_factory=list)
    folded: list[pa.RecordBatch] = field(default_factory=list)  # see NativeReader.folded
    # Of a fed file (read once): the number of each declined line, by its text as parsed.
    numbered: dict[str, int] | None = None


def chunks(
    source: LogSource, state: FileState, stop: threading.Event, size_bytes: int | None = None
) -> Iterator[bytes | memoryview]:
    """The file's bytes, inflated, in pieces of about ``size_bytes`` that end at a line end
    (the last one may not). Memory stays bounded whatever the input: a piece ends at the last
    LF, else at the last CR (read_csv ends lines there too), and a line longer than a whole
    piece keeps only its head, enough to be reported, while the rest is skipped.
    ``size_bytes`` is CHUNK_BYTES unless given."""
    size_bytes = size_bytes or CHUNK_BYTES
    pieces: list[bytes] = []
    size, skipping = 0, False
    for piece in _inflated(source, state, size_bytes):
        if stop.is_set():
            return
        if skipping:  # inside an over-long line: drop bytes up to its end
            end = _line_end(piece)
            if end < 0:
                continue
            piece, skipping = piece[end:], False
        pieces.append(piece)
        size += len(piece)
        if size >= size_bytes:
            data = b"".join(pieces)
            cut = data.rfind(b"\n") + 1
            if not cut and len(data) > MAX_LINE_BYTES:  # no LF in a line's worth of bytes
                cut = data.rfind(b"\r") + 1
                if not cut:
                    data, skipping = _head(data), True
            pieces, size = [data[cut:]], len(data) - cut
            if cut:
                yield memoryview(data)[:cut]
    data = b"".join(pieces)
    if state.faults:  # a line cut off by a gzip fault is not a line
        data = data[: data.rfind(b"\n") + 1]
    if data:
        yield data


def _line_end(data: bytes) -> int:
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1


def _head(line: bytes) -> bytes:
    """The start of an over-long line: still over the limit, cut at a character boundary."""
    head = line[: MAX_LINE_BYTES + 4]
    while head and head[-1] & 0xC0 == 0x80:  # UTF-8 continuation bytes
        head = head[:-1]
    return head[:-1] if head and head[-1] >= 0xC0 else head


def _inflated(source: LogSource, state: FileState, size: int) -> Iterator[bytes]:
    if source.feed is not None:
        yield from _fed(source, state, size)
        return
    with open(source.path, "rb") as handle:
        if not source.gzip:
            while piece := handle.read(size):
                yield piece
            return
        yield from _gunzip(handle, source, state, size)


def _fed(source: LogSource, state: FileState, size: int) -> Iterator[bytes]:
    """A fed file (a download), read as its bytes arrive: gzip or not is told by its first
    two bytes, as for a file (``sources.is_gzip``)."""
    assert source.feed is not None
    try:
        with source.feed.open() as handle:
            head = handle.read(2)
            if head != GZIP_MAGIC:
                if head:
                    yield head
                while piece := handle.read(size):
                    yield piece
                return
            yield from _gunzip(_Prefixed(head, handle), source, state, size)
    except FeedFault as fault:  # a converted vended log: the lines before it stand
        state.faults.append(FileFault(source.display, fault.message, 0))


class _Prefixed:
    """A stream with bytes already taken from it put back in front."""

    def __init__(self, head: bytes, handle: Any) -> None:
        self.head, self.handle = head, handle

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head + bytes(self.handle.read(max(0, size - len(head)) if size >= 0 else -1))
        return bytes(self.handle.read(size))


def _gunzip(handle: Any, source: LogSource, state: FileState, size: int) -> Iterator[bytes]:
    from isal import isal_zlib

    fault = yield from inflate_pieces(handle, isal_zlib, size)
    if fault is not None:
        # A fed file is not read twice: ISA-L's wording stands (the file's is zlib's).
        state.faults.append(
            FileFault(source.display, fault, 0) if source.feed else _gzip_fault(source)
        )


def _gzip_fault(source: LogSource) -> FileFault:
    # zlib words the fault as the DuckDB path reports it (ISA-L may see garbage as a short
    # stream); this reads the damaged file once more, in bounded memory.
    return FileFault(source.display, gzip_fault(source.path) or TRUNCATED_GZIP, 0)
