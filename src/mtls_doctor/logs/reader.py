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
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from mtls_doctor.errors import InputError
from mtls_doctor.logs import native
from mtls_doctor.logs.chunks import FileState, chunks
from mtls_doctor.logs.faults import (
    NOT_UTF8 as NOT_UTF8,
)
from mtls_doctor.logs.faults import (
    TRUNCATED_GZIP as TRUNCATED_GZIP,
)
from mtls_doctor.logs.faults import (
    FileFault as FileFault,
)
from mtls_doctor.logs.faults import (
    ParseIssue as ParseIssue,
)
from mtls_doctor.logs.faults import inflate_pieces
from mtls_doctor.logs.lines import (
    cut_long_line,
    duckdb_view,
    has_long_line,
    long_lines_fault,
    shorten_long_lines,
)
from mtls_doctor.logs.parse import (
    MAX_LINE_BYTES,
    NULL_RAW_COLUMNS,
    SCANNER_COLUMNS,
    certified_sql,
    parse_sql,
    read_csv_sql,
)
from mtls_doctor.logs.sources import LogSource, is_gzip

T = TypeVar("T")
_STREAMS = itertools.count()
EMPTY_GZIP = "truncated gzip stream (the file is empty)"
# A physical line is looked at again (to number a malformed one) up to this many bytes; of a
# longer one only the head is read, and the rest skipped.
_SCAN_BYTES = 4 * MAX_LINE_BYTES
_GUARD_PIECE = 1 << 20


def register_stream(
    con: duckdb.DuckDBPyConnection, stream: Any, reasons: bool = True, certified: bool = False
) -> tuple[str, str]:
    """Register an Arrow stream of the compiled reader's batches with ``con``: its name, and
    SQL for its parsed rows (columns of ``parse_sql`` plus ``filename``). With ``certified``,
    the stream holds certified lines only, and the SQL types them (``certified_sql``, plus
    ``filename`` and ``tid``)."""
    name = f"mtls_doctor_lines_{next(_STREAMS)}"
    con.register(name, stream)
    raw = ", ".join(SCANNER_COLUMNS)
    if certified:  # with the trace id as a UUID (store.RENDERED)
        source = f"(SELECT filename::VARCHAR AS filename, tid, {raw} FROM {name})"
        return name, f"({certified_sql(source, 'filename, tid,')})"
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
    # The traceback's last line, or "offering a filter ... failed: KeyboardInterrupt: "
    if text.rstrip().rstrip(":").endswith("KeyboardInterrupt"):
        return KeyboardInterrupt()
    return InputError(f"cannot read the logs: {error}")


def forget_stream(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered stream; its reading threads stop once it is gone."""
    with contextlib.suppress(duckdb.Error):  # still in use by a pending result: later, then
        con.unregister(name)


def repair(source: LogSource, workdir: Path, reason: str) -> tuple[LogSource, FileFault | None]:
    """A plain, valid-UTF-8 copy of ``source`` holding every complete line it yields.

    Made in bounded memory from the compiled reader's chunks (which end at line ends and
    keep only the head of a line too long to hold), whatever the file's size or lines.
    """
    state = FileState()
    target = workdir / f"repaired-{abs(hash(str(source.path)))}-{source.path.name}.log"
    replaced, long_lines, lines, size, last = False, 0, 0, 0, ""
    with target.open("w", encoding="utf-8", newline="") as out:
        for chunk in chunks(source, state, threading.Event()):
            size += len(chunk)
            text = bytes(chunk).decode("utf-8", errors="replace")
            replaced = replaced or "\ufffd" in text
            text, cut = shorten_long_lines(text)
            long_lines += cut
            out.write(text)
            lines += text.count("\n")
            last = text or last
    lines += 1 if last and not last.endswith("\n") else 0
    complete = not state.faults
    fault = state.faults[0].message if state.faults else None
    if complete and replaced:
        fault = NOT_UTF8
    if complete and long_lines:
        fault = long_lines_fault(long_lines)
    fixed = LogSource(source.display, target, gzip=False, size=size)
    return fixed, FileFault(source.display, fault or reason, lines, complete)


def has_long_lines(source: LogSource) -> bool:
    """Whether a line of ``source`` is over :data:`MAX_LINE_BYTES` (read in bounded memory).

    DuckDB's ``read_csv`` does not always say so: a line longer than its buffer is dropped
    without a word at the end of a file, or fails the whole read naming no file. A gzip
    fault ends the look (DuckDB reports that one itself).
    """
    from isal import isal_zlib

    with source.path.open("rb") as handle:
        if source.gzip:
            return has_long_line(inflate_pieces(handle, isal_zlib, _GUARD_PIECE))
        return has_long_line(iter(lambda: handle.read(_GUARD_PIECE), b""))


def _empty_gzip(source: LogSource) -> bool:
    """A 0-byte file named as gzip: a download or copy that stopped before its first byte."""
    names = (source.display.lower(), source.path.name.lower())
    return source.size == 0 and not source.gzip and any(n.endswith(".gz") for n in names)


class FileSet:
    """A set of log files, as one parsed relation for DuckDB, with per-file repairs."""

    def __init__(
        self,
        sources: Sequence[LogSource],
        workdir: Path,
        unreadable: Sequence[tuple[str, str]] = (),
        held_nothing: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        empty = [s for s in sources if _empty_gzip(s)]
        sources = [s for s in sources if s not in empty]
        if not sources:
            if empty:
                raise InputError(
                    f"no connection-log file could be read ({empty[0].display}: {EMPTY_GZIP})",
                    hint="Copy or download the file again.",
                )
            if unreadable:
                name, reason = unreadable[0]
                raise InputError(
                    f"no connection-log file could be read ({name}: {reason})",
                    hint="Check the files' permissions.",
                )
            if held_nothing:  # inputs read whole that held nothing (see SourceScan.empty)
                name, what, hint = held_nothing[0]
                more = len(held_nothing) - 1
                what += f" (and {more} more input(s) like it)" if more else ""
                raise InputError(f"no connection-log files to read: {name}: {what}", hint=hint)
            raise InputError(
                "no connection-log files to read",
                hint="Connection-log objects are named conn_log_... or conn_log....",
            )
        self.workdir = workdir
        self._copies: list[Path] = []
        # Of fed files (read once, so their malformed lines are numbered as they are read):
        # {display: {line as parsed: number}}, filled by the compiled reader.
        self.numbered: dict[str, dict[str, int]] = {}
        self.faults: list[FileFault] = [
            FileFault(name, f"cannot read: {reason}", 0) for name, reason in unreadable
        ] + [FileFault(s.display, EMPTY_GZIP, 0) for s in empty]
        if not native.available():  # DuckDB reads files: a fed one (a vended log) is copied
            sources = [self._as_file(s) if s.feed is not None else s for s in sources]
        self.sources = list(sources)
        self._guarded = False
        self._display = {str(s.path): s.display for s in self.sources}

    def _as_file(self, source: LogSource) -> LogSource:
        """A plain copy of what a fed file reads as (the legacy lines of a vended log)."""
        # Imported here: a run that reads only legacy files never loads the vended readers.
        from mtls_doctor.logs.vended.feed import materialize

        target = self.workdir / f"fed-{len(self._copies)}-{source.path.name}.log"
        self._copies.append(target)
        try:
            size, lines, fault = materialize(source.feed, target)  # type: ignore[arg-type]
        except OSError as error:
            size, lines, fault = 0, 0, f"cannot read: {error.strerror or error}"
        if fault is not None:
            self.faults.append(FileFault(source.display, fault, lines))
        return LogSource(source.display, target, is_gzip(target), size, sha256=source.sha256)

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
        if native.available():
            return self._run_native(con, query, fetch, params)
        self._repair_long_lines()
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
        # The stream is read once, possibly after this returns (fetch may hand back a cursor),
        # so faults land in self.faults as each file is finished.
        reader = native.NativeReader(self.sources, faults=self.faults)
        reader.numbered = self.numbered
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

    def _repair_long_lines(self) -> None:
        """Repair, before DuckDB reads them, the files with a line over the limit (once)."""
        if self._guarded:
            return
        self._guarded = True
        for index, source in enumerate(self.sources):
            if not source.path.name.startswith("repaired-") and has_long_lines(source):
                self._replace(index, source, "a line longer than the limit")

    def _replace(self, index: int, source: LogSource, reason: str) -> None:
        fixed, fault = repair(source, self.workdir, reason)
        self.sources[index] = fixed
        self._display[str(fixed.path)] = source.display
        if fault is not None:
            self.faults.append(fault)

    def _repair_from(self, message: str) -> bool:
        # Longest paths first: "a.log" is part of "a.log.gz", and only one of them failed.
        by_length = sorted(enumerate(self.sources), key=lambda item: -len(str(item[1].path)))
        for index, source in by_length:
            if str(source.path) in message:
                self._replace(index, source, message.strip().splitlines()[0])
                return True
        return False


def locate_lines(
    fileset: FileSet,
    bad: Iterable[tuple[str, str, str]],
    limit: int = 1000,
    numbered: Mapping[str, Mapping[str, int]] | None = None,
) -> list[ParseIssue]:
    """Find the line numbers of malformed lines (rare, so Python may scan those files).

    ``bad`` holds ``(filename, line, reason)`` as DuckDB saw them. A line that cannot be
    found again is still reported, without a number. A file in ``numbered`` (a fed file,
    numbered as it was read: ``{display: {line: number}}``) is not read again.
    """
    wanted: dict[str, dict[str, str]] = {}
    for filename, line, reason in bad:
        wanted.setdefault(filename, {})[line] = reason
    issues: list[ParseIssue] = []
    for filename, lines in wanted.items():
        display = fileset.display(filename)
        if numbered is not None and display in numbered:
            at = numbered[display]
            found = [ParseIssue(display, at[t], r, t) for t, r in lines.items() if t in at]
        else:
            found = _scan_file(Path(filename), display, lines, limit)
        seen = {issue.text for issue in found}
        found.extend(ParseIssue(display, None, r, t) for t, r in lines.items() if t not in seen)
        issues.extend(found)
    issues.sort(key=lambda issue: (issue.file, issue.line or 0))
    return issues[:limit]


def _physical_lines(handle: Any) -> Iterator[tuple[str, bool]]:
    """Each LF-ended line as text, and whether its tail was cut: of a line over _SCAN_BYTES
    only the head is kept (its last part, up to a CR, marked as over the limit when it is),
    so a 200 MB line costs no more memory than a short one."""
    while raw := handle.readline(_SCAN_BYTES):
        if len(raw) < _SCAN_BYTES or raw.endswith(b"\n"):
            yield raw.decode("utf-8", errors="replace").rstrip("\n"), False
            continue
        tail = len(raw) - (raw.rfind(b"\r") + 1)  # the bytes of the head's last part so far
        counting = True
        while rest := handle.readline(_SCAN_BYTES):  # skip to the line's end
            if counting:
                ends = [i for i in (rest.find(b"\r"), rest.find(b"\n")) if i >= 0]
                tail += min(ends) if ends else len(rest)
                counting = not ends
            if rest.endswith(b"\n"):
                break
        yield raw.decode("utf-8", errors="replace"), tail > MAX_LINE_BYTES


def _scan_file(path: Path, display: str, lines: dict[str, str], limit: int) -> list[ParseIssue]:
    import gzip

    found: list[ParseIssue] = []
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:  # type: ignore[operator]
            for number, (text, cut) in enumerate(_physical_lines(handle), start=1):
                keys = duckdb_view(text, number == 1)
                if cut:  # the head's last part is the start of a line over the limit
                    part = text.split("\r")[-1]
                    part = part.removeprefix("\ufeff") if number == 1 and part == text else part
                    keys[-1] = duckdb_view(cut_long_line(part), False)[0]
                for key in keys:
                    if key in lines:
                        found.append(ParseIssue(display, number, lines[key], key))
                if len(found) >= limit:
                    break
    except (OSError, EOFError, zlib.error):
        pass  # a faulty file: the lines found so far are all we can number
    return found
