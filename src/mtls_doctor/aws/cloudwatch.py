"""A CloudWatch Logs group as a log input: ``cloudwatch:LOG_GROUP`` or a log-group ARN.

The group is read with ``FilterLogEvents``: ``--since``/``--until`` become ``startTime`` and
``endTime`` (the server applies the window), pages follow ``nextToken``, a throttled or
dropped call is tried again with backoff (on top of botocore's standard-mode retries), and
``--log-stream-prefix`` narrows the read (``logStreamNamePrefix``). Each event's message is
one line of a local file per log stream (``groupfiles.py``), which the one reader reads as
it reads any log file: plain messages are legacy lines, and JSON ones are turned into legacy
lines by the vended-format detection, like any other vended input. A stream's file is named
``cloudwatch:GROUP:STREAM@FIRST_EVENT_TIME``, so a malformed message is named by its group,
stream and place from that event on.

A group that is not there (exit 3) or refused (exit 4) is named in the scan's
``unreadable``, and the other inputs are still read; so is a read cut short, after what it
read. Nothing here prints: progress and notes go to the ``observer``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.aws.session import error_code, is_transient, translate
from mtls_doctor.errors import AwsAccessError, InputError, MtlsDoctorError
from mtls_doctor.logs.sources import CLOUDWATCH_PREFIX
from mtls_doctor.timeutil import iso_z

ACTION = "logs:FilterLogEvents"
# Log group names: 1-512 of these characters (CreateLogGroup); no ':' so a stream can follow.
_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_ARN = re.compile(r"^arn:(?P<part>[^:]+):logs:(?P<region>[^:]*):(?P<account>[^:]*):log-group:")
# AWS answers AccessDeniedException; "403" is botocore's code for a 403 whose body it could
# not parse (moto's IAM check answers in XML), which for this API is a refusal too.
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}

GroupEventKind = Literal["start", "page", "done", "note", "failed"]


@dataclass(frozen=True)
class GroupEvent:
    """One step of reading a group, for the progress line and the warnings (CLI)."""

    kind: GroupEventKind
    group: str  # cloudwatch:NAME
    events: int = 0  # read so far (page, done)
    streams: int = 0  # done: streams that had events
    skipped: int = 0  # done: events the store holds already (ingest)
    message: str = ""  # start: the window; note: what to tell the user
    error: MtlsDoctorError | None = None  # failed


GroupObserver = Callable[[GroupEvent], None]


@dataclass(frozen=True)
class CloudWatchOptions:
    """How to read groups. ``remote`` carries the profile, region, window and ``now``."""

    remote: RemoteOptions = field(default_factory=RemoteOptions)
    stream_prefix: str | None = None
    page_size: int | None = None  # FilterLogEvents ``limit`` (None: the service's, 10,000)
    attempts: int = 4  # per page, on top of botocore's own retries of each call
    backoff_seconds: float = 0.5
    # Ingest reads again from this long before each stream's newest stored event, and keeps
    # the event ids of that span, so events that reach CloudWatch late (delivery delay,
    # FilterLogEvents' eventual consistency) are still stored once. How late vended ALB
    # events can arrive is UNCONFIRMED; MTLS_DOCTOR_CLOUDWATCH_LATE_MINUTES sets it.
    late_minutes: int = 15
    observer: GroupObserver | None = field(default=None, compare=False)

    def notify(self, event: GroupEvent) -> None:
        if self.observer is not None:
            self.observer(event)


@dataclass(frozen=True)
class GroupRef:
    """A log group as the user named it."""

    name: str
    region: str | None = None  # from an ARN; else --region or the usual sources
    account: str | None = None

    @property
    def display(self) -> str:
        return CLOUDWATCH_PREFIX + self.name

    @classmethod
    def parse(cls, text: str) -> GroupRef:
        """``cloudwatch:NAME`` or ``arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]``."""
        match = _ARN.match(text)
        if match:
            name = text[match.end() :].removesuffix(":*")
            region, account = match["region"] or None, match["account"] or None
        else:
            name, region, account = text.removeprefix(CLOUDWATCH_PREFIX), None, None
        if not _GROUP_NAME.match(name):
            raise InputError(
                f"{text}: not a log group name",
                hint="Give cloudwatch:LOG_GROUP (e.g. cloudwatch:/aws/vendedlogs/alb-conn) "
                "or arn:aws:logs:REGION:ACCOUNT:log-group:LOG_GROUP.",
            )
        return cls(name, region, account)


@dataclass(frozen=True)
class GroupInfo:
    """What DescribeLogGroups says of the group (None where it said nothing)."""

    created: datetime | None
    retention_days: int | None

    def oldest(self, now: datetime) -> datetime | None:
        """The earliest time the group can still hold an event."""
        kept = now - timedelta(days=self.retention_days) if self.retention_days else None
        times = [t for t in (self.created, kept) if t is not None]
        return max(times) if times else None


def window_ms(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
    """``startTime`` and ``endTime`` (inclusive, in ms) for the window ``[since, until)``."""
    start = int(since.timestamp() * 1000) if since is not None else None
    end = -(-int(until.timestamp() * 1_000_000) // 1000) - 1 if until is not None else None
    return start, end


def group_info(client: Any, ref: GroupRef) -> GroupInfo | None:
    """The group's creation time and retention; None when that cannot be asked (not allowed:
    only ``logs:FilterLogEvents`` is needed to read, this is a courtesy)."""
    try:
        page = client.describe_log_groups(logGroupNamePrefix=ref.name, limit=50)
    except Exception:
        return None
    for group in page.get("logGroups", []):
        if group.get("logGroupName") == ref.name:
            created = group.get("creationTime")
            return GroupInfo(
                datetime.fromtimestamp(created / 1000, UTC) if created else None,
                group.get("retentionInDays"),
            )
    return None


def read_error(error: BaseException, ref: GroupRef) -> MtlsDoctorError:
    """Our error for a failed FilterLogEvents call on ``ref``."""
    code = error_code(error)
    if code == "ResourceNotFoundException":
        return InputError(
            f"{ref.display}: no such log group ({ACTION})",
            hint="Check the name and --region (log groups are per region and account); "
            "'aws logs describe-log-groups --log-group-name-prefix PREFIX' lists them.",
        )
    if code in _DENIED:
        return AwsAccessError(
            f"{ref.display}: access denied to {ACTION} ({aws_session.describe(error)})",
            hint=f"Allow {ACTION} on arn:aws:logs:REGION:ACCOUNT:log-group:{ref.name}:* for "
            "the identity in use; 'aws sts get-caller-identity' shows which identity that is.",
        )
    if code == "InvalidParameterException":
        return InputError(f"{ref.display}: {aws_session.describe(error)}")
    return translate(error, action=ACTION, resource=ref.display)


def iter_events(
    client: Any, ref: GroupRef, opts: CloudWatchOptions, start: int | None, end: int | None
) -> Iterator[list[dict[str, Any]]]:
    """The events of ``ref`` between ``start`` and ``end`` (ms, inclusive), a page at a time.

    Raises the translated error of a call that failed for good (``read_error``)."""
    params: dict[str, Any] = {"logGroupName": ref.name}
    for key, value in (
        ("startTime", start),
        ("endTime", end),
        ("logStreamNamePrefix", opts.stream_prefix),
        ("limit", opts.page_size),
    ):
        if value is not None:
            params[key] = value
    token: str | None = None
    while True:
        page = _page(client, ref, opts, {**params, **({"nextToken": token} if token else {})})
        events = page.get("events", [])
        if opts.stream_prefix:  # the service narrows already; a local endpoint may not
            events = [e for e in events if e["logStreamName"].startswith(opts.stream_prefix)]
        yield events
        token = page.get("nextToken")
        if not token:
            return


def _page(
    client: Any, ref: GroupRef, opts: CloudWatchOptions, params: dict[str, Any]
) -> dict[str, Any]:
    for attempt in range(1, opts.attempts + 1):
        try:
            return dict(client.filter_log_events(**params))
        except Exception as error:
            if attempt == opts.attempts or not is_transient(error):
                raise read_error(error, ref) from error
            time.sleep(opts.backoff_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def retention_note(
    ref: GroupRef,
    info: GroupInfo | None,
    since: datetime | None,
    first_event: datetime | None,
    now: datetime,
) -> str | None:
    """What to say when the window starts before the oldest event the group can hold."""
    if since is None:
        return None
    oldest = info.oldest(now) if info is not None else None
    if oldest is not None and since < oldest - timedelta(minutes=1):
        why = []
        if info is not None and info.retention_days:
            days = info.retention_days
            why.append(f"retention {days} day{'' if days == 1 else 's'}")
        if info is not None and info.created is not None and oldest == info.created:
            why.append(f"created {iso_z(info.created)}")
        return (
            f"{ref.display}: the window starts at {iso_z(since)}, but the group holds events "
            f"from {iso_z(oldest)} on at the earliest ({', '.join(why)}): "
            "retention may have dropped the rest"
        )
    if info is None and first_event is not None and first_event - since > timedelta(hours=1):
        return (
            f"{ref.display}: the window starts at {iso_z(since)}, but its first event is at "
            f"{iso_z(first_event)}: retention may have dropped the rest (logs:DescribeLogGroups, "
            "which tells the group's retention, could not be asked)"
        )
    return None
