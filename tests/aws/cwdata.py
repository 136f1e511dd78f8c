"""CloudWatch Logs groups of connection-log events in the moto server, with recent times.

CloudWatch refuses events older than 14 days, so the events are placed before the real
``now`` (rounded to the minute); the commands are given ``--at``/``--until`` from there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.knowledge.fields import vended_record
from tests.aws.albdata import STATUSES, entry

GROUP = "/aws/vendedlogs/alb-connections"
STREAMS = ("alb-conn-node-a", "alb-conn-node-b", "other-stream")


def base_time() -> datetime:
    """Two hours before now, on a whole minute: every event is recent and in the past."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=2)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def lines(base: datetime, count: int, seed: int = 0) -> list[tuple[int, str]]:
    """``count`` legacy lines, 20 s apart from ``base``, as (timestamp ms, message)."""
    out = []
    for i in range(count):
        at = base + timedelta(seconds=20 * i)
        status = STATUSES[(seed + i) % len(STATUSES)]
        out.append((ms(at), entry(at, seed * 1000 + i, status).to_line()))
    return out


def json_lines(
    base: datetime, count: int, seed: int = 0, *, typed: bool = False
) -> list[tuple[int, str]]:
    """The same connections as :func:`lines`, as vended JSON records (one a message)."""
    out = []
    for i in range(count):
        at = base + timedelta(seconds=20 * i)
        status = STATUSES[(seed + i) % len(STATUSES)]
        record = vended_record(entry(at, seed * 1000 + i, status), typed=typed, empty="null")
        out.append((ms(at), json.dumps(record)))
    return out


def make_group(logs: Any, name: str = GROUP, retention_days: int | None = None) -> None:
    logs.create_log_group(logGroupName=name)
    if retention_days:
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)


def put(logs: Any, stream: str, events: Sequence[tuple[int, str]], group: str = GROUP) -> None:
    """Put ``events`` into ``stream`` (created when new), in batches in time order."""
    existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)
    if not any(s["logStreamName"] == stream for s in existing["logStreams"]):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    ordered = sorted(events)
    for start in range(0, len(ordered), 5000):
        batch = ordered[start : start + 5000]
        result = logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": t, "message": m} for t, m in batch],
        )
        assert not result.get("rejectedLogEventsInfo"), result


def write_file(path: Path, events: Iterable[tuple[int, str]]) -> Path:
    """The same messages as a legacy log file (time order)."""
    path.write_text("".join(m + "\n" for _, m in sorted(events)))
    return path
