"""Where ALB logs are delivered by day, in both layouts, and which day folders a window needs.

Legacy connection logs, and V2 (vended, CloudWatch Logs-delivered) logs by default, go to
``.../AWSLogs/{account}/elasticloadbalancing/{region}/{yyyy}/{mm}/{dd}/``; V2 deliveries with
Hive-compatible paths go to
``.../AWSLogs/aws-account-id={account}/elasticloadbalancing/region={region}/year={yyyy}/month={mm}/day={dd}/``
(spec §2.6, AWS's worked example for ALB *access* logs). For connection logs the V2 path and
the object names are UNCONFIRMED: the same shape is assumed, a deeper service-defined path
below the day folder is read whole, and the objects are told apart by content
(``sources.py``), not by name.

Used for local folders (``sources.py``) and for S3 prefixes (``aws/layout.py``, ``aws/s3.py``).
Pure functions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

AWSLOGS_PART = "AWSLogs"
SERVICE_PART = "elasticloadbalancing"
HIVE_ACCOUNT = "aws-account-id="
HIVE_REGION = "region="
_DAY_KEYS = ("year", "month", "day")
_DAY_PART = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/")
_HIVE_DAY_PART = re.compile(r"^year=(\d{4})/month=(\d{2})/day=(\d{2})/")


def day_range(since: datetime, until: datetime) -> list[date]:
    """The delivery-date folders that can hold connections of ``[since, until)``.

    The folder date of a legacy file is the date it was delivered, not the connection date
    (spec §1.2), so the day after ``until`` is included: a connection just before midnight
    is delivered after it. For V2 deliveries whether the folder date is the delivery or the
    record date is UNCONFIRMED; both fall in this range.
    """
    first = since.astimezone(UTC).date()
    last = until.astimezone(UTC).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def is_hive(folder: str) -> bool:
    """Whether an account or region folder name is Hive-style (``aws-account-id=...``)."""
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    return name.startswith((HIVE_ACCOUNT, HIVE_REGION))


def day_prefix(day: date, hive: bool = False) -> str:
    """``2026/09/10/``, or with ``hive`` ``year=2026/month=09/day=10/``."""
    values = (f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")
    if hive:
        return "".join(f"{key}={value}/" for key, value in zip(_DAY_KEYS, values, strict=True))
    return "".join(f"{value}/" for value in values)


def day_of_key_part(rest: str) -> date | None:
    """The folder date of ``yyyy/mm/dd/...`` or ``year=yyyy/month=mm/day=dd/...`` (the part
    of a key after the region folder)."""
    match = _DAY_PART.match(rest) or _HIVE_DAY_PART.match(rest)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def after_awslogs(parts: Sequence[str]) -> list[str] | None:
    """The path parts after the last ``AWSLogs`` part, or None when there is none."""
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == AWSLOGS_PART:
            return list(parts[index + 1 :])
    return None


def in_delivery_layout(parts: Sequence[str]) -> bool:
    """Whether a file at ``parts`` (its folders and name) lies under
    ``AWSLogs/<account>/elasticloadbalancing/``, in either layout: a folder where ALB
    deliveries land, whose objects are told apart by content."""
    rest = after_awslogs(parts)
    return rest is not None and len(rest) >= 3 and rest[1] == SERVICE_PART


def _date_value(part: str, index: int, hive: bool) -> int | None:
    if hive:
        key, sep, part = part.partition("=")
        if not sep or key != _DAY_KEYS[index]:
            return None
    return int(part) if part.isdigit() else None


def window_days(since: datetime | None, until: datetime | None) -> tuple[date, date] | None:
    """The first and last day folder (inclusive) that can hold connections of the window,
    as :func:`day_range` counts them; None when the window has no start (no pruning)."""
    if since is None:
        return None
    last = until.astimezone(UTC).date() + timedelta(days=1) if until is not None else date.max
    return since.astimezone(UTC).date(), last


def folder_may_hold(rest: Sequence[str], days: tuple[date, date]) -> bool:
    """Whether the folder at ``rest`` (its parts after ``AWSLogs``) can hold files of a day
    in ``days`` (first, last): False only for a year, month or day folder of the delivery
    layout that lies wholly outside. A folder outside that layout is always kept: what is not
    understood is read.
    """
    if len(rest) < 4 or rest[1] != SERVICE_PART:
        return True
    hive = rest[2].startswith(HIVE_REGION)
    values: list[int] = []
    for index, part in enumerate(rest[3:6]):
        value = _date_value(part, index, hive)
        if value is None:
            return True
        values.append(value)
    try:
        start, end = _span(values)
    except ValueError:  # month 13, day 32: not a day folder
        return True
    return start <= days[1] and end >= days[0]


def _span(values: list[int]) -> tuple[date, date]:
    """The first and last day of a year, month or day folder."""
    if len(values) == 1:
        return date(values[0], 1, 1), date(values[0], 12, 31)
    if len(values) == 2:
        first = date(values[0], values[1], 1)
        following = date(values[0] + values[1] // 12, values[1] % 12 + 1, 1)
        return first, following - timedelta(days=1)
    day = date(values[0], values[1], values[2])
    return day, day
