"""What reading a log file can find besides its lines: faults of whole files, malformed lines,
and a gzip stream inflated as far as it goes. The bottom of the readers: ``reader``,
``chunks`` and ``native`` import from here, never the other way round."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO


@dataclass(frozen=True)
class FileFault:
    """A file that could be read only in part (or not at all)."""

    file: str
    message: str
    lines_read: int
    complete: bool = False  # every line was read (e.g. bytes that are not UTF-8 were replaced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "message": self.message,
            "lines_read": self.lines_read,
            "complete": self.complete,
        }


@dataclass(frozen=True)
class ParseIssue:
    """A malformed line that was skipped: which file, which line, why."""

    file: str
    line: int | None
    message: str
    text: str = field(default="", compare=False, repr=False)  # the line itself, for the store

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


class FeedFault(OSError):
    """A converted file (a vended log, read as legacy lines) ends in a fault that keeps the
    lines before it, as a truncated gzip does: reported with its own wording, as a fault of
    the file, after the lines already given."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)
        self.message = message


FEED_BYTES = 256 * 1024  # gzip input per inflate call: what a fault can take with it
CORRUPT_GZIP = "corrupt gzip data ({})"
TRUNCATED_GZIP = "truncated gzip stream (the file ends early)"
NOT_UTF8 = "bytes that are not UTF-8 (shown as U+FFFD)"


def inflate_pieces(
    handle: BinaryIO, module: Any = zlib, max_piece: int = 8 * 1024 * 1024
) -> Generator[bytes, None, str | None]:
    """Inflate a gzip stream (every member) in pieces of at most ``max_piece`` bytes (a small
    input may inflate to a huge one); return its fault, if any.

    ``module`` is ``zlib`` or ISA-L's ``isal_zlib``. The input goes in FEED_BYTES pieces: an
    inflater keeps nothing of a piece that holds a fault, so what comes before it is kept.
    """
    inflater, fed = module.decompressobj(wbits=31), False
    while data := handle.read(FEED_BYTES):
        while data:
            try:
                piece = inflater.decompress(data, max_piece)
            except Exception as error:  # module.error, which mypy does not take as a class
                return CORRUPT_GZIP.format(error)
            fed = True
            if piece:
                yield piece
            data = inflater.unconsumed_tail
            if inflater.eof:  # a gzip file may hold several members, one after another
                data = inflater.unused_data
                inflater, fed = module.decompressobj(wbits=31), False
    if fed and not inflater.eof:
        # ISA-L may have taken in all the input and still hold inflated output: drain it.
        with contextlib.suppress(Exception):
            while piece := inflater.decompress(b"", max_piece):
                yield piece
            if piece := inflater.flush():
                yield piece
        if not inflater.eof:
            return TRUNCATED_GZIP
    return None


def _inflate_into(path: Path, sink: Callable[[bytes], object]) -> str | None:
    with path.open("rb") as handle:
        pieces = inflate_pieces(handle)
        while True:
            try:
                sink(next(pieces))
            except StopIteration as end:
                fault: str | None = end.value
                return fault


def inflate_partial(path: Path) -> tuple[bytes, str | None]:
    """Inflate as much of a gzip file as possible (all members); return data and fault."""
    out = bytearray()
    fault = _inflate_into(path, out.extend)
    return bytes(out), fault


def gzip_fault(path: Path) -> str | None:
    """How zlib words the fault of a gzip file, reading it in bounded memory (output dropped)."""
    return _inflate_into(path, lambda piece: None)
