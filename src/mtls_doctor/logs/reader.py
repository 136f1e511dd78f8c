"""Read log files, and survive the files that are not what they claim.

:meth:`FileSet.run` reads with the compiled scanner (``native.py``) when it was built. The
other way, used without it, hands every file to one DuckDB ``read_csv`` call, so DuckDB
inflates and splits them in parallel; when it gives up on a file (truncated or corrupt gzip,
bytes that are not UTF-8, a line over :data:`MAX_LINE_BYTES`), that file alone is repaired:
inflated by Python as far as it goes, decoded with replacement characters, long lines cut,
and read again from a plain copy. Either way a fault is reported with the number of lines
the file gave before it, and both ways give the same rows (tests/logs/test_linescan.py).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import zlib
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import duckdb

from mtls_doctor.errors import InputError
from mtls_doctor.logs.parse import (
    MAX_LINE_BYTES,
    NULL_RAW_COLUMNS,
    SCANNER_COLUMNS,
    parse_sql,
    read_csv_sql,
)
from mtls_doctor.logs.sources import LogSource, is_gzip

T = TypeVar("T")
_STREAMS = itertools.count()
_CHUNK = 1024 * 1024


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


def register_stream(
    con: duckdb.DuckDBPyConnection, stream: Any, reasons: bool = True
) -> tuple[str, str]:
    """Register an Arrow stream of the compiled reader's batches with ``con``: its name, and
    SQL for its parsed rows (columns of ``parse_sql`` plus ``filename``)."""
    name = f"mtls_doctor_lines_{next(_STREAMS)}"
    con.register(name, stream)
    raw = ", ".join(SCANNER_COLUMNS)
    source = f"(SELECT filename::VARCHAR AS filename, line, rest, {raw} FROM {name})"
    return name, f"({parse_sql(source, 'filename,', reasons)})"


def stream_failure(error: duckdb.Error, name: str) -> BaseException | None:
    """What DuckDB's failure to read our stream ``name`` was, or None if it was not that.

    Python code of the stream (the reader's generator) may run in the main thread, where
    Ctrl-C lands: DuckDB then reports the KeyboardInterrupt as a failed read.
    """
    text = str(error)
    if f"'{name}' failed" not in text:  # "reading the stream registered as '...' failed"
        return None
    if text.rstrip().endswith("KeyboardInterrupt"):  # the traceback's last line
        return KeyboardInterrupt()
    return InputError(f"cannot read the logs: {error}")


def forget_stream(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered stream; its reading threads stop once it is gone."""
    with contextlib.suppress(duckdb.Error):  # still in use by a pending result: later, then
        con.unregister(name)


def gzip_fault(path: Path) -> str | None:
    """How zlib words the fault of a gzip file, reading it in bounded memory (output dropped)."""
    return _inflate_into(path, lambda piece: None)


_LINE_END = re.compile(r"(\r\n|\r|\n)")  # where read_csv ends a line


def too_long(line: str) -> bool:
    return len(line) > MAX_LINE_BYTES // 4 and len(line.encode()) > MAX_LINE_BYTES


def cut_long_line(line: str) -> str:
    """What is left of a line over :data:`MAX_LINE_BYTES`: enough to recognise it."""
    return line[:200] + " [cut: the line was longer than the limit]"


def _shorten_long_lines(text: str) -> tuple[str, int]:
    if not too_long(text):
        return text, 0
    parts = _LINE_END.split(text)  # lines at even indices, their line ends between
    long_ones = [i for i in range(0, len(parts), 2) if too_long(parts[i])]
    for index in long_ones:
        parts[index] = cut_long_line(parts[index])
    return ("".join(parts) if long_ones else text), len(long_ones)


def long_lines_fault(count: int) -> str:
    return f"{count} line(s) longer than {MAX_LINE_BYTES} bytes (cut short)"


def repair(source: LogSource, workdir: Path, reason: str) -> tuple[LogSource, FileFault | None]:
    """A plain, valid-UTF-8 copy of ``source`` holding every complete line it yields."""
    if source.gzip:
        raw, fault = inflate_partial(source.path)
    else:
        raw, fault = source.path.read_bytes(), None
    if fault is not None and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]  # a line cut by the fault is not a line
    text = raw.decode("utf-8", errors="replace")
    complete = fault is None
    if complete and "\ufffd" in text:
        fault = NOT_UTF8
    text, long_lines = _shorten_long_lines(text)
    if complete and long_lines:
        fault = long_lines_fault(long_lines)
    target = workdir / f"repaired-{abs(hash(str(source.path)))}-{source.path.name}.log"
    target.write_text(text, encoding="utf-8")
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    fixed = LogSource(source.display, target, gzip=False, size=len(raw))
    if fault is None:
        fault = reason
    return fixed, FileFault(source.display, fault, lines, complete)


class FileSet:
    """A set of log files, as one parsed relation for DuckDB, with per-file repairs."""

    def __init__(
        self,
        sources: Sequence[LogSource],
        workdir: Path,
        unreadable: Sequence[tuple[str, str]] = (),
    ) -> None:
        if not sources:
            if unreadable:
                name, reason = unreadable[0]
                raise InputError(
                    f"no connection-log file could be read ({name}: {reason})",
                    hint="Check the files' permissions.",
                )
            raise InputError(
                "no connection-log files to read",
                hint="Connection-log objects are named conn_log_... or conn_log....",
            )
        self.sources = list(sources)
        self.workdir = workdir
        self.faults: list[FileFault] = [
            FileFault(name, f"cannot read: {reason}", 0) for name, reason in unreadable
        ]
        self._display = {str(s.path): s.display for s in self.sources}

    def display(self, filename: str) -> str:
        """The name the user knows a file by (the S3 key, ``<stdin>``, the path given)."""
        return self._display.get(filename, filename)

    def relation(self) -> tuple[str, dict[str, Any]]:
        """SQL for the parsed rows of every file (columns of ``parse_sql`` plus ``filename``)."""
        parts, params = [], {}
        for flag, key in ((True, "gz_paths"), (False, "plain_paths")):
            paths = [str(s.path) for s in self.sources if s.gzip is flag]
            if paths:
                params[key] = paths
                parts.append(
                    f"SELECT filename, line, rest, {NULL_RAW_COLUMNS} "
                    f"FROM {read_csv_sql('$' + key, flag)}"
                )
        source = "(" + " UNION ALL ".join(parts) + ")"
        return f"({parse_sql(source, 'filename,')})", params

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        query: Callable[[str], str],
        fetch: Callable[[duckdb.DuckDBPyConnection], T],
        params: dict[str, Any] | None = None,
    ) -> T:
        """Run ``query(relation)`` and ``fetch`` its result, repairing files that fail."""
        from mtls_doctor.logs import native  # imports this module

        if native.available():
            return self._run_native(con, query, fetch, params)
        for _ in range(len(self.sources) + 1):
            relation, own = self.relation()
            try:
                con.execute(query(relation), {**own, **(params or {})})
                return fetch(con)
            except (
                duckdb.IOException,
                duckdb.InvalidInputException,
                duckdb.NotImplementedException,
            ) as error:
                if not self._repair_from(str(error)):
                    raise InputError(f"cannot read the logs: {error}") from error
        raise InputError("cannot read the logs: too many faulty files")

    def _run_native(
        self,
        con: duckdb.DuckDBPyConnection,
        query: Callable[[str], str],
        fetch: Callable[[duckdb.DuckDBPyConnection], T],
        params: dict[str, Any] | None,
    ) -> T:
        from mtls_doctor.logs.native import NativeReader

        # The stream is read once, possibly after this returns (fetch may hand back a cursor),
        # so faults land in self.faults as each file is finished.
        reader = NativeReader(self.sources, faults=self.faults)
        name, relation = register_stream(con, reader.reader())
        try:
            con.execute(query(relation), params or {})
            result = fetch(con)
        except duckdb.Error as error:
            forget_stream(con, name)
            raise stream_failure(error, name) or error from error
        if result is not con:  # fetched: let the stream go
            forget_stream(con, name)
        return result

    def _repair_from(self, message: str) -> bool:
        # Longest paths first: "a.log" is part of "a.log.gz", and only one of them failed.
        by_length = sorted(enumerate(self.sources), key=lambda item: -len(str(item[1].path)))
        for index, source in by_length:
            if str(source.path) in message:
                first_line = message.strip().splitlines()[0]
                fixed, fault = repair(source, self.workdir, first_line)
                self.sources[index] = fixed
                self._display[str(fixed.path)] = source.display
                if fault is not None:
                    self.faults.append(fault)
                return True
        return False


def locate_lines(
    fileset: FileSet, bad: Iterable[tuple[str, str, str]], limit: int = 1000
) -> list[ParseIssue]:
    """Find the line numbers of malformed lines (rare, so Python may scan those files).

    ``bad`` holds ``(filename, line, reason)`` as DuckDB saw them. A line that cannot be
    found again is still reported, without a number.
    """
    wanted: dict[str, dict[str, str]] = {}
    for filename, line, reason in bad:
        wanted.setdefault(filename, {})[line] = reason
    issues: list[ParseIssue] = []
    for filename, lines in wanted.items():
        display = fileset.display(filename)
        found = _scan_file(Path(filename), display, lines, limit)
        seen = {issue.text for issue in found}
        found.extend(ParseIssue(display, None, r, t) for t, r in lines.items() if t not in seen)
        issues.extend(found)
    issues.sort(key=lambda issue: (issue.file, issue.line or 0))
    return issues[:limit]


def duckdb_parts(physical: str, first: bool) -> list[tuple[str, str | None]]:
    """The ``(line, rest)`` rows ``read_csv`` makes of one physical line (no newline).

    ``read_csv`` also ends a line at a lone CR, drops a UTF-8 BOM at the start of a file,
    and puts whatever follows a U+0001 (our delimiter) in ``rest``; a line over
    :data:`MAX_LINE_BYTES` is cut short, as both readers do.
    """
    if first and physical.startswith("\ufeff"):
        physical = physical[1:]
    rows: list[tuple[str, str | None]] = []
    for part in physical.split("\r"):
        if too_long(part):  # as both readers cut it (see MAX_LINE_BYTES)
            part = cut_long_line(part)
        head, sep, tail = part.partition("\x01")
        rows.append((head, tail.split("\x01")[0] if sep else None))
    return rows


def duckdb_view(physical: str, first: bool) -> list[str]:
    """The lines DuckDB makes of one physical line, as the parser sees them.

    The parser trims trailing spaces and marks a line that had a U+0001 with one U+0001
    at its end (see :func:`duckdb_parts` and ``parse.parse_sql``).
    """
    return [
        head.rstrip(" ") + ("" if rest is None else "\x01")
        for head, rest in duckdb_parts(physical, first)
    ]


def _scan_file(path: Path, display: str, lines: dict[str, str], limit: int) -> list[ParseIssue]:
    import gzip

    found: list[ParseIssue] = []
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:  # type: ignore[operator]
            for number, raw in enumerate(handle, start=1):
                text = raw.decode("utf-8", errors="replace").rstrip("\n")
                for key in duckdb_view(text, number == 1):
                    if key in lines:
                        found.append(ParseIssue(display, number, lines[key], key))
                if len(found) >= limit:
                    break
    except (OSError, EOFError, zlib.error):
        pass  # a faulty file: the lines found so far are all we can number
    return found
