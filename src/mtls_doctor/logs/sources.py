"""Turn what the user typed (files, folders, globs, ``-``) into the log files to read.

In a folder (or a glob), only connection-log objects are read: ``conn_log_...`` and
``conn_log....`` (both spellings exist, spec §1.3), and files of another name whose content
is a connection log (vended logs, whose names are UNCONFIRMED, spec §2.5). Access-log objects,
the ``ELBConnectionLogTestFile`` marker and files of access-log or health-check records are
skipped silently; anything else is reported once. A file named explicitly is always read,
whatever its name. A vended log (JSON lines, W3C, delimited plain, Parquet) is read as the
equivalent legacy lines (``vended/feed.py``), its format told by its content.

With a window start (``since``), the day folders of the delivery layouts
(``AWSLogs/<account>/elasticloadbalancing/...``, flat or Hive-style: ``layout.py``) that
cannot hold the window are not walked; rows are still filtered by their own time afterwards.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from mtls_doctor.errors import InputError
from mtls_doctor.logs.layout import after_awslogs, folder_may_hold, window_days

if TYPE_CHECKING:
    from mtls_doctor.logs.vended.detect import Detected

GZIP_MAGIC = b"\x1f\x8b"
# A CloudWatch Logs group as an input: cloudwatch:LOG_GROUP or a log-group ARN (no "://").
CLOUDWATCH_PREFIX = "cloudwatch:"
CLOUDWATCH = "cloudwatch"
_LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:[^:]*:[^:]*:log-group:")
CONN_LOG_NAME = re.compile(r"^conn_log[._]")
# Access logs are <account>_elasticloadbalancing_...; health-check logs have their own prefix.
_SILENT_NAMES = (
    re.compile(r"^\d{12}_elasticloadbalancing_"),
    re.compile(r"^health_check_log[._]"),
    re.compile(r"^ELBConnectionLogTestFile$"),
    re.compile(r"^\."),
)


@dataclass(frozen=True)
class LogSource:
    """One log file to read: where it is on disk, how to name it, whether it is gzip."""

    display: str
    path: Path
    gzip: bool
    size: int
    # Known without reading the file again: hashed as it was downloaded (S3 objects).
    sha256: str | None = None
    etag: str | None = None  # an S3 object's ETag: a stored copy with another one is stale
    # Bytes that arrive as they are read (an S3 download): read once, never from ``path``.
    feed: Feed | None = field(default=None, compare=False, repr=False)


class Feed(Protocol):
    """A log file's raw bytes as they arrive (a download), to be read in one pass.

    :meth:`open` starts the transfer and gives its bytes as a stream; ``sha256`` is set
    once it was read to its end. A failure to fetch is raised by ``read`` as a
    :class:`FeedError`, whose ``strerror`` says why (the file is named by the caller).
    """

    @property
    def sha256(self) -> str | None: ...

    @property
    def failure(self) -> str | None:
        """Why the bytes could not be fetched whole, once read."""

    @property
    def error(self) -> Exception | None:
        """The error that said so (raised when every input failed)."""

    def open(self) -> FeedStream: ...

    def close(self) -> None: ...


class FeedStream(Protocol):
    """A feed's bytes: ``read(n)`` gives ``n`` bytes, fewer only at the end."""

    def read(self, size: int = -1) -> bytes: ...

    def __enter__(self) -> FeedStream: ...

    def __exit__(self, *exc: object) -> None: ...


class FeedError(OSError):
    """The bytes of a fed file could not be fetched (refused, gone, cut off); ``before``
    says whether that happened before its first byte."""

    def __init__(self, reason: str, before: bool) -> None:
        super().__init__(0, reason)
        self.before = before


@dataclass(frozen=True)
class StoredCopy:
    """What a store holds of a remote object: enough to tell whether it changed since."""

    size: int | None
    etag: str | None


@dataclass(frozen=True)
class SourceScan:
    """The outcome of expanding the inputs: files to read, and names passed over."""

    sources: tuple[LogSource, ...]
    skipped_unknown: tuple[str, ...] = ()
    skipped_silently: int = 0
    # (name, reason) of files found in a folder or glob that could not be opened.
    unreadable: tuple[tuple[str, str], ...] = ()
    # (name, what, hint) of inputs read whole that held nothing to read (a log group with no
    # events in the window): what to say when they are all there was.
    empty: tuple[tuple[str, str, str], ...] = ()


class Opener(Protocol):
    """Reads inputs of one location scheme (``s3://``) into local files to read.

    The caller (the CLI) builds it with its options and passes it in, so that ``logs`` never
    imports what talks to the network. ``stored`` names the remote objects a store already
    holds whole: those whose copy is still current are not fetched again. With ``stream``,
    objects may come as :class:`LogSource` with a ``feed`` (read as they download) instead of
    being fetched to local files first.
    """

    def expand(
        self,
        item: str,
        workdir: Path,
        stored: Mapping[str, StoredCopy] | None = None,
        stream: bool = False,
    ) -> SourceScan: ...


def input_scheme(item: str) -> str:
    """The location scheme of an input (``s3``, ``cloudwatch``), or "" for a local one."""
    if "://" in item:
        return item.split("://", 1)[0]
    if item.startswith(CLOUDWATCH_PREFIX) or _LOG_GROUP_ARN.match(item):
        return CLOUDWATCH
    return ""


def is_gzip(path: Path) -> bool:
    """Decide by content, not by name: some tools save gzip files without ``.gz``."""
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _source(path: Path, display: str | None = None) -> LogSource:
    from mtls_doctor.logs.vended.detect import detect_file

    found = detect_file(path)  # one look at the head tells gzip and the format
    source = LogSource(display or str(path), path, found.gzip, path.stat().st_size)
    return _as_detected(source, found)


def content_kind(path: Path) -> str:
    """What a file of an unknown name holds, told by its first bytes (a Parquet file's footer):
    ``read`` for a connection log in any format (legacy, JSON, W3C, delimited, Parquet),
    ``silent`` for another ALB log (access or health-check records), else ``unknown``."""
    from mtls_doctor.logs.vended.detect import JSONL, PARQUET, W3C, detect_file

    found = detect_file(path)
    if found.connection:
        return "read"
    if found.connection is None and found.format == PARQUET:
        return "read"  # a Parquet file whose footer cannot be read: its reader says why
    # Records or columns without a connection-log field: access-log or health-check records.
    # A plain line that is not a good one is no kind of log that can be told.
    other = found.connection is False and found.format in (JSONL, W3C, PARQUET)
    return "silent" if other else "unknown"


def as_read(source: LogSource) -> LogSource:
    """``source`` as the readers read it: a vended log (JSON lines, W3C, delimited plain,
    Parquet: told by its content) becomes a feed of the equivalent legacy lines
    (``vended/feed.py``); a download's feed is told by its first bytes as they arrive."""
    # The vended readers are imported only for a feed or a vended file: a legacy file needs
    # only the detection (10-15 ms of imports saved per run).
    if source.feed is not None:
        from mtls_doctor.logs.vended import feed as vended

        if isinstance(source.feed, vended.VendedFeed | vended.SniffingFeed):
            return source
        return replace(source, feed=vended.SniffingFeed(source.feed))
    from mtls_doctor.logs.vended.detect import detect_file

    return _as_detected(source, detect_file(source.path))


def _as_detected(source: LogSource, found: Detected) -> LogSource:
    if not found.vended:
        return source
    from mtls_doctor.logs.vended import feed as vended

    return replace(source, gzip=False, feed=vended.VendedFeed(source.path, found))


def classify_name(name: str) -> str:
    """``read`` for a connection log, ``silent`` for known other ALB objects, else ``unknown``."""
    if CONN_LOG_NAME.match(name):
        return "read"
    if any(pattern.match(name) for pattern in _SILENT_NAMES):
        return "silent"
    return "unknown"


@dataclass
class _Collector:
    sources: list[LogSource] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    empty: list[tuple[str, str, str]] = field(default_factory=list)
    silent: int = 0
    seen: set[Path] = field(default_factory=set)

    def add_listed(self, path: Path) -> None:
        """A file found by walking a folder or a glob: filtered by name, then by content (a
        vended log's object names are UNCONFIRMED, spec §2.5: its records decide)."""
        kind = classify_name(path.name)
        if kind == "unknown":
            try:
                kind = content_kind(path)
            except OSError as error:
                self.unreadable.append((str(path), error.strerror or str(error)))
                return
        if kind == "silent":
            self.silent += 1
        elif kind == "unknown":
            self.unknown.append(str(path))
        else:
            # One unreadable file in a folder must not stop the others (a named one does).
            try:
                self.add_explicit(path)
            except OSError as error:
                self.unreadable.append((str(path), error.strerror or str(error)))

    def add_explicit(self, path: Path, display: str | None = None) -> None:
        resolved = path.resolve()
        if resolved in self.seen:
            return
        self.seen.add(resolved)
        self.sources.append(_source(path, display))


def _may_hold(folder: Path, days: tuple[date, date]) -> bool:
    rest = after_awslogs(Path(os.path.abspath(folder)).parts)
    return rest is None or folder_may_hold(rest, days)


def _walk(folder: Path, collector: _Collector, days: tuple[date, date] | None = None) -> None:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rest = after_awslogs(Path(os.path.abspath(root)).parts) if days else None
        if rest is not None and days is not None:
            dirs[:] = [d for d in dirs if folder_may_hold([*rest, d], days)]
        for name in sorted(files):
            collector.add_listed(Path(root) / name)


def _stdin_copy(stdin: BinaryIO, workdir: Path) -> Path:
    # DuckDB reads files, so stdin is spooled to the work folder first (gzip or not).
    target = workdir / "stdin.log"
    with target.open("wb") as out:
        shutil.copyfileobj(stdin, out, 1024 * 1024)
    return target


def expand_inputs(
    inputs: Sequence[str],
    *,
    workdir: Path,
    stdin: BinaryIO | None = None,
    openers: Mapping[str, Opener] | None = None,
    stored: Mapping[str, StoredCopy] | None = None,
    stream: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SourceScan:
    """Expand ``inputs`` into log files, in a stable order, without reading their content
    (but the first bytes of files found in a delivery layout under another name).

    ``openers`` reads other schemes (``{"s3": ...}``); ``stored`` and ``stream`` are passed
    on to them (their window is their own). ``since``/``until`` prune the day folders of
    local delivery layouts.
    Raises :class:`InputError` for an input that matches nothing.
    """
    collector = _Collector()
    days = window_days(since, until)
    for item in inputs:
        scheme = input_scheme(item)
        opener = (openers or {}).get(scheme)
        if opener is not None:
            scan = opener.expand(item, workdir, stored, stream)
            collector.sources.extend(as_read(source) for source in scan.sources)
            collector.unknown.extend(scan.skipped_unknown)
            collector.unreadable.extend(scan.unreadable)
            collector.empty.extend(scan.empty)
            collector.silent += scan.skipped_silently
        elif scheme:
            raise InputError(
                f"{item}: unsupported location scheme {scheme}"
                + (":" if scheme == CLOUDWATCH else "://"),
                hint="Give a local file or folder, '-' for stdin, or s3://bucket/prefix."
                if scheme != "s3"
                else "This command reads s3:// only where the command line offers it.",
            )
        elif item == "-":
            if stdin is None:
                raise InputError("-: no standard input to read")
            collector.add_explicit(_stdin_copy(stdin, workdir), "<stdin>")
        else:
            _expand_local(item, collector, days)
    return SourceScan(
        tuple(collector.sources),
        tuple(collector.unknown),
        collector.silent,
        tuple(collector.unreadable),
        tuple(collector.empty),
    )


def _expand_local(item: str, collector: _Collector, days: tuple[date, date] | None) -> None:
    path = Path(item)
    if path.is_dir():
        _walk(path, collector, days)
    elif path.is_file():
        collector.add_explicit(path)
    elif glob.has_magic(item):
        matches = sorted(glob.glob(item, recursive=True))
        if not matches:
            raise InputError(f"{item}: the pattern matches no file")
        for match in matches:
            match_path = Path(match)
            if match_path.is_dir():
                _walk(match_path, collector, days)
            elif days is not None and not _may_hold(match_path.parent, days):
                continue  # a day folder of a delivery layout outside the window
            else:
                collector.add_listed(match_path)
    else:
        raise InputError(
            f"{item}: no such file or folder",
            hint="Give connection-log files (.log.gz or plain), folders, globs or '-'.",
        )


def make_workdir() -> Path:
    """A private scratch folder for stdin copies, repaired files and temporary stores."""
    return Path(tempfile.mkdtemp(prefix="mtls-doctor-"))
