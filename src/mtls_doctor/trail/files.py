"""CloudTrail log files as trails deliver them, from a folder.

``AWSLogs/{account}/CloudTrail/{region}/{yyyy}/{mm}/{dd}/{account}_CloudTrail_{region}_
{yyyymmddThhmmZ}_{random}.json.gz``, each a JSON object with a ``Records`` list. Day folders
outside the window are not opened, and neither is a file delivered before the window starts
(a file holds only events from before its delivery time). A damaged file is named in
:attr:`ChangeRead.problems` and skipped: the change source never ends a diagnosis.
The S3 twin is ``mtls_doctor.aws.cloudtrail``; both use :func:`parse_trail_bytes`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.errors import InputError, MtlsDoctorError
from mtls_doctor.trail.event import ChangeEvent, parse_record

_DELIVERED = re.compile(r"_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4}Z)_")
_DAY_DIR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})$")
DIGEST_FOLDER = "CloudTrail-Digest"  # signed digests, no Records: never read


@dataclass(frozen=True)
class ChangeRead:
    """What a change source gave for a window: ELB events, and what could not be read."""

    source: str
    events: tuple[ChangeEvent, ...]
    files_read: int = 0
    records_read: int = 0
    problems: tuple[str, ...] = ()
    complete: bool = True  # False when access was denied or a file was skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "source": self.source,
            "events": len(self.events),
            "files_read": self.files_read,
            "records_read": self.records_read,
            "problems": list(self.problems),
            "complete": self.complete,
        }


def is_trail_name(name: str) -> bool:
    return name.endswith((".json.gz", ".json"))


def delivered_at(name: str) -> datetime | None:
    """The delivery time in a trail file's name, if it has one."""
    match = _DELIVERED.search(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def days_wanted(since: datetime, until: datetime) -> tuple[date, date]:
    """First and last day folder that can hold events of ``[since, until]``.

    The folder is the delivery date (UTC), up to about 15 minutes after the event: the day
    after ``until`` is included for an event just before midnight.
    """
    return since.astimezone(UTC).date(), until.astimezone(UTC).date() + timedelta(days=1)


def skip_by_name(name: str, since: datetime) -> bool:
    """A file delivered before ``since`` holds no event of the window."""
    delivered = delivered_at(name)
    return delivered is not None and delivered < since.replace(second=0, microsecond=0)


def parse_trail_bytes(data: bytes, name: str) -> list[Any]:
    """The ``Records`` of one trail file (gzip or plain JSON); InputError naming the file."""
    try:
        text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        document = json.loads(text)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise InputError(f"{name}: not a readable CloudTrail log file ({error})") from None
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise InputError(f"{name}: not a CloudTrail log file (no Records list)")
    return records


def events_in(
    records: Iterable[Any], origin: str, since: datetime, until: datetime
) -> Iterator[ChangeEvent]:
    """The ELB events of ``records`` with ``since <= event_time <= until``."""
    for record in records:
        event = parse_record(record, origin)
        if event is not None and since <= event.event_time <= until:
            yield event


def _day_out(folder: str, first: date, last: date) -> bool:
    match = _DAY_DIR.search(folder.replace(os.sep, "/"))
    if match is None:
        return False
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return not first <= day <= last


def trail_files(root: Path, since: datetime, until: datetime) -> list[Path]:
    """The trail files under ``root`` that can hold events of the window, in name order."""
    if root.is_file():
        return [root]
    first, last = days_wanted(since, until)
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d != DIGEST_FOLDER and not _day_out(os.path.join(folder, d), first, last)
        )
        found += [Path(folder, n) for n in names if is_trail_name(n) and not skip_by_name(n, since)]
    return sorted(found)


def read_folder(root: Path, since: datetime, until: datetime) -> ChangeRead:
    """ELB events of ``[since, until]`` from the trail files under ``root``."""
    if not root.exists():
        raise InputError(
            f"{root}: no such file or folder",
            hint="Give the folder that holds AWSLogs/ of the trail, or an s3:// prefix.",
        )
    events: list[ChangeEvent] = []
    problems: list[str] = []
    files = records = 0
    for path in trail_files(root, since, until):
        try:
            batch = parse_trail_bytes(path.read_bytes(), str(path))
        except OSError as error:
            problems.append(f"{path}: cannot read ({error.strerror or error}); skipped")
            continue
        except InputError as error:
            problems.append(f"{error.message}; skipped")
            continue
        files += 1
        records += len(batch)
        events.extend(events_in(batch, str(path), since, until))
    events.sort(key=lambda e: e.event_time)
    return ChangeRead(str(root), tuple(events), files, records, tuple(problems), not problems)


def read_safely(source: str, read: Callable[[], ChangeRead]) -> ChangeRead:
    """``read()``, or an empty read that says why: the change source never ends a diagnosis."""
    try:
        return read()
    except MtlsDoctorError as error:
        problem = f"{error.message}; no change events from {source}"
        return ChangeRead(source, (), problems=(problem,), complete=False)
