"""The ``cloudwatch`` opener: a log group read into one local file per log stream.

Each event's message becomes one line (a line break inside a message becomes a space: one
event is one record), in the order FilterLogEvents gives them. A stream's file is named
``cloudwatch:GROUP:STREAM@TIME`` after its first event read, so the reader's line numbers
count events of that stream from there. Files are written with a bounded buffer per stream
and hashed on the way (the store needs no second read).

For ``ingest`` the opener is told what the store holds (:meth:`CloudWatchOpener.with_store`,
``logs/groupmarks.py``): the read starts ``late`` before the oldest stream mark, events
stored already are left out, and the ids the store must remember are noted before the files
are appended. For the other commands a group is read once per command, however many times
the command reads its inputs (``support-bundle`` reads them twice).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.cloudwatch import (
    CloudWatchOptions,
    GroupEvent,
    GroupRef,
    group_info,
    iter_events,
    retention_note,
    window_ms,
)
from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.logs.groupmarks import GroupBook, Seen, StreamMark
from mtls_doctor.logs.sources import LogSource, SourceScan, StoredCopy
from mtls_doctor.timeutil import iso_z

_FLUSH_BYTES = 256 * 1024  # a stream's buffered lines before they go to its file
_BUFFERED_BYTES = 16 * 1024 * 1024  # of all streams: past it, every buffer is written out
_NEWLINES = str.maketrans({"\n": " ", "\r": " "})


def _ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class _StreamFile:
    """One stream's events: a file of messages, its hash, and its newest events' ids."""

    def __init__(self, path: Path, display: str, late_ms: int) -> None:
        self.path, self.display, self.late_ms = path, display, late_ms
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.size = 0
        self.events = 0
        self.digest = hashlib.sha256()
        self.high = -(2**62)
        self.tail: list[tuple[int, str]] = []  # (ts, eventId) from high - late on
        self.prune_at = 4096  # doubles with what stays: pruning costs O(1) per event

    def add(self, message: str, ts: int, event_id: str) -> None:
        line = (message.translate(_NEWLINES) + "\n").encode("utf-8", "surrogateescape")
        self.buffer.append(line)
        self.buffered += len(line)
        self.events += 1
        self.high = max(self.high, ts)
        self.tail.append((ts, event_id))
        if len(self.tail) > self.prune_at:
            self.tail = [(t, e) for t, e in self.tail if t >= self.high - self.late_ms]
            self.prune_at = max(4096, 2 * len(self.tail))
        if self.buffered >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        data = b"".join(self.buffer)
        with self.path.open("ab") as out:
            out.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.buffer, self.buffered = [], 0

    def source(self) -> LogSource:
        self.flush()
        return LogSource(self.display, self.path, False, self.size, self.digest.hexdigest())

    def seen(self, group: str, stream: str) -> list[Seen]:
        self.flush()
        sha = self.digest.hexdigest()
        return [
            Seen(group, stream, ts, event_id, sha)
            for ts, event_id in self.tail
            if ts >= self.high - self.late_ms
        ]


@dataclass
class _Read:
    """One read of a group: its stream files, and the events left out as stored."""

    ref: GroupRef
    key: str  # REGION:NAME, as the store knows the group
    folder: Path
    late_ms: int
    marks: Mapping[str, StreamMark]
    streams: dict[str, _StreamFile] = field(default_factory=dict)
    events: int = 0
    skipped: int = 0
    first: int | None = None
    since_flush: int = 0  # bytes added since every buffer was last written out

    def add(self, event: dict[str, Any]) -> None:
        stream, ts, event_id = event["logStreamName"], int(event["timestamp"]), event["eventId"]
        mark = self.marks.get(stream)
        if mark is not None and not mark.is_new(ts, event_id, self.late_ms):
            self.skipped += 1
            return
        self.events += 1
        self.first = ts if self.first is None else min(self.first, ts)
        target = self.streams.get(stream)
        if target is None:
            display = f"{self.ref.display}:{stream}@{iso_z(_ms_time(ts))}"
            path = self.folder / f"stream-{len(self.streams):06d}.log"
            target = self.streams[stream] = _StreamFile(path, display, self.late_ms)
        message = str(event.get("message", ""))
        target.add(message, ts, event_id)
        # Many streams each under their own limit still add up: bound them all together.
        self.since_flush += len(message) + 1
        if self.since_flush >= _BUFFERED_BYTES:
            for each in self.streams.values():
                each.flush()
            self.since_flush = 0

    def sources(self) -> tuple[LogSource, ...]:
        return tuple(s.source() for s in self.streams.values())

    def seen(self) -> list[Seen]:
        return [r for name, s in self.streams.items() for r in s.seen(self.key, name)]


@dataclass(frozen=True)
class CloudWatchOpener:
    """The ``cloudwatch`` opener of :func:`mtls_doctor.logs.sources.expand_inputs`."""

    options: CloudWatchOptions = field(default_factory=CloudWatchOptions)
    book: GroupBook | None = field(default=None, compare=False)
    # Reads kept for the life of the opener (not for ingest): key -> scan, and their files.
    _kept: dict[str, SourceScan] = field(default_factory=dict, compare=False)
    _folders: list[Path] = field(default_factory=list, compare=False)

    def with_store(self, book: GroupBook) -> CloudWatchOpener:
        """This opener for an ingest into ``book``'s store: reads only what it lacks."""
        return replace(self, book=book, _kept={}, _folders=[])

    def close(self) -> None:
        """Remove the files of the reads kept (call when the command is done)."""
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._folders.clear()
        self._kept.clear()

    def expand(
        self,
        item: str,
        workdir: Path,
        stored: Mapping[str, StoredCopy] | None = None,
        stream: bool = False,
    ) -> SourceScan:
        ref = GroupRef.parse(item)
        remote = self.options.remote
        region = ref.region or remote.region
        client = aws_session.new_client("logs", profile=remote.profile, region=region)
        # A group is known by its region and name (the same name may exist in two regions).
        key = f"{client.meta.region_name}:{ref.name}"
        if key in self._kept:  # read once per command; and once per ingest
            return self._kept[key] if self.book is None else SourceScan(())
        if self.book is None:
            folder = Path(tempfile.mkdtemp(prefix="mtls-doctor-cw-"))
            self._folders.append(folder)
        else:
            folder = Path(tempfile.mkdtemp(prefix="cloudwatch-", dir=workdir))
        scan = self._read(ref, key, client, folder)
        self._kept[key] = scan
        return scan

    def _read(self, ref: GroupRef, key: str, client: Any, folder: Path) -> SourceScan:
        opts, remote = self.options, self.options.remote
        late_ms = opts.late_minutes * 60_000
        marks = self.book.marks(key, late_ms) if self.book is not None else {}
        start, end = window_ms(remote.since, remote.until)
        if marks:  # ingest again: from `late` before the oldest stream mark
            resume = min(m.high for m in marks.values()) - late_ms
            start = resume if start is None else max(start, resume)
        read = _Read(ref, key, folder, late_ms, marks)
        opts.notify(GroupEvent("start", ref.display, message=_window(start, end)))
        failure: MtlsDoctorError | None = None
        try:
            for page in iter_events(client, ref, opts, start, end):
                for event in page:
                    read.add(event)
                opts.notify(GroupEvent("page", ref.display, events=read.events))
        except MtlsDoctorError as error:
            failure = error
        self._finish(ref, client, read, failure, resumed=bool(marks))
        sources = read.sources()  # flushed and hashed: then what the store must remember
        if self.book is not None:
            self.book.note(read.seen())
        unreadable: tuple[tuple[str, str], ...] = ()
        if failure is not None:
            reason = failure.message.removeprefix(ref.display + ": ")
            if read.events:
                reason = f"read cut short after {read.events} events: {reason}"
            unreadable = ((ref.display, reason),)
        empty: tuple[tuple[str, str, str], ...] = ()
        if failure is None and not read.events and not marks:
            empty = ((ref.display, "no " + _window(start, end), self._empty_hint()),)
        return SourceScan(sources, unreadable=unreadable, empty=empty)

    def _empty_hint(self) -> str:
        prefix = self.options.stream_prefix
        where = f"in log streams named {prefix}..." if prefix else "in this log group"
        return (
            f"No event {where} has a timestamp in that window: widen --since/--until, "
            "or check that the load balancer's connection logs are delivered to this group."
        )

    def _finish(
        self,
        ref: GroupRef,
        client: Any,
        read: _Read,
        failure: MtlsDoctorError | None,
        *,
        resumed: bool,
    ) -> None:
        opts, remote = self.options, self.options.remote
        if failure is not None:
            opts.notify(GroupEvent("failed", ref.display, events=read.events, error=failure))
        opts.notify(
            GroupEvent(
                "done",
                ref.display,
                events=read.events,
                streams=len(read.streams),
                skipped=read.skipped,
            )
        )
        if failure is not None or resumed:
            return  # an ingest that resumes starts after the window's start on purpose
        now = remote.now or datetime.now(UTC)
        first = _ms_time(read.first) if read.first is not None else None
        info = group_info(client, ref) if remote.since is not None else None
        note = retention_note(ref, info, remote.since, first, now)
        if note is not None:
            opts.notify(GroupEvent("note", ref.display, message=note))


def _window(start: int | None, end: int | None) -> str:
    first = iso_z(_ms_time(start)) if start is not None else "the oldest"
    last = iso_z(_ms_time(end + 1)) if end is not None else "the newest"
    return f"events from {first} to {last}"


def cloudwatch_openers(options: CloudWatchOptions) -> dict[str, CloudWatchOpener]:
    return {"cloudwatch": CloudWatchOpener(options)}
