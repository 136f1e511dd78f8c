"""The S3 key layout of ALB connection logs (spec §1.3), and which keys a time window needs.

``{bucket}[/{prefix}]/AWSLogs/{account}/elasticloadbalancing/{region}/{yyyy}/{mm}/{dd}/
conn_log_{account}_elasticloadbalancing_{region}_app.{lb-id}_{end-time}_{ip}_{random}.log.gz``

V2 (vended) deliveries use the same folders, or their Hive-style twin
``AWSLogs/aws-account-id={account}/elasticloadbalancing/region={region}/year=.../month=.../day=.../``;
their object names are UNCONFIRMED (spec §2.5/§2.6), so they carry no end-time and are told
apart by content. The day-folder functions are shared with local folders (``logs/layout.py``).

Pure functions: no boto3, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mtls_doctor.errors import InputError
from mtls_doctor.logs.layout import day_of_key_part, day_prefix, day_range, is_hive

__all__ = [
    "AWSLOGS",
    "CONN_LOG_KEY",
    "ConnLogName",
    "S3Url",
    "day_of_key_part",
    "day_prefix",
    "day_range",
    "in_window",
    "is_hive",
    "lb_matches",
    "split_after_awslogs",
]

AWSLOGS = "AWSLogs/"
# Both spellings, conn_log_ (current docs) and conn_log. (older docs, Tailpipe): spec §1.3.
CONN_LOG_KEY = re.compile(
    r"conn_log[._](?P<account>\d{12})_elasticloadbalancing_(?P<region>[a-z0-9-]+)_"
    r"(?P<lb>app\..+)_(?P<end>\d{8}T\d{4}Z)_(?P<ip>[0-9.:a-fA-F]+)_(?P<rand>[A-Za-z0-9]+)"
    r"\.log(?:\.gz)?$"
)


@dataclass(frozen=True)
class S3Url:
    """``s3://bucket[/prefix]``; ``prefix`` is empty or ends with ``/`` unless it names a key."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> S3Url:
        rest = text[len("s3://") :] if text.startswith("s3://") else ""
        bucket, _, prefix = rest.partition("/")
        if not bucket or not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
            raise InputError(
                f"{text}: not an S3 location",
                hint="Write it as s3://bucket or s3://bucket/prefix.",
            )
        return cls(bucket, prefix)

    def url(self, key: str | None = None) -> str:
        return f"s3://{self.bucket}/{self.prefix if key is None else key}"


@dataclass(frozen=True)
class ConnLogName:
    """The parts of a connection-log object name."""

    account: str
    region: str
    lb_id: str  # app.NAME.ID
    end: datetime  # end of the 5-minute interval

    @classmethod
    def parse(cls, name: str) -> ConnLogName | None:
        match = CONN_LOG_KEY.match(name)
        if match is None:
            return None
        try:
            end = datetime.strptime(match["end"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(match["account"], match["region"], match["lb"], end)


def lb_matches(lb_id: str, wanted: str) -> bool:
    """``wanted`` is an LB name, ``app/NAME/ID``, ``app.NAME.ID`` or a load-balancer ARN."""
    if ":loadbalancer/" in wanted:
        wanted = wanted.split(":loadbalancer/", 1)[1]
    wanted = wanted.replace("/", ".")
    if lb_id == wanted:
        return True
    parts = lb_id.split(".")
    return len(parts) >= 3 and ".".join(parts[1:-1]) == wanted


def in_window(
    end: datetime,
    since: datetime | None,
    until: datetime | None,
    *,
    interval_minutes: int = 5,
    slack_minutes: int = 5,
) -> bool:
    """Whether a file whose interval ends at ``end`` can hold connections of the window."""
    slack = timedelta(minutes=slack_minutes)
    start = end - timedelta(minutes=interval_minutes)
    if since is not None and end + slack < since:
        return False
    return not (until is not None and start - slack >= until)


def split_after_awslogs(prefix: str) -> tuple[str, list[str]]:
    """``(root, parts)``: the prefix up to and including ``AWSLogs/``, and the parts after it.

    ``("logs/AWSLogs/", ["123456789012", "elasticloadbalancing", "us-east-1"])``
    """
    index = prefix.find(AWSLOGS)
    if index < 0:
        return prefix, []
    root = prefix[: index + len(AWSLOGS)]
    parts = [p for p in prefix[index + len(AWSLOGS) :].split("/") if p]
    return root, parts
