"""Vended (V2) deliveries laid out as spec §2.6 shows them, in both layouts, with strays.

Object names are UNCONFIRMED (spec §2.5): the ones here are made up on purpose, so that only
their content can say what they are. The connections are those of ``albdata.entry``, so a
legacy file of the same connections can be written beside them for comparison.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.knowledge.fields import LogEntry, vended_record
from tests.aws.albdata import ACCOUNT, STATUSES, entry

BUCKET = "vended-logs"
FLAT = f"v2/AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/"
HIVE = f"v2/AWSLogs/aws-account-id={ACCOUNT}/elasticloadbalancing/region=us-east-1/"


def entries(day: datetime, count: int, seed: int) -> list[LogEntry]:
    return [
        entry(day + timedelta(minutes=7 * i), seed * 100 + i, STATUSES[(seed + i) % 4])
        for i in range(count)
    ]


def parquet_bytes(items: list[LogEntry], *, drop: str | None = None) -> bytes:
    """The records as Parquet (typed ports and latency, nulls for empty values)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [vended_record(item, typed=True, empty="null") for item in items]
    if drop is not None:
        for record in records:
            record.pop(drop, None)
    types = {"client_port": pa.int32(), "listener_port": pa.int32()}
    types["tls_handshake_latency"] = pa.float64()
    names = [n for n in records[0]] if records else ["time"]
    schema = pa.schema([(n, types.get(n, pa.string())) for n in names])
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=schema), out, row_group_size=3)
    return out.getvalue()


def access_log_json() -> bytes:
    """A vended access-log record (no connection-log field): skipped like an access log."""
    record = {"type": "https", "time": "2026-09-10T10:00:00.000000Z", "client_port": 443}
    return gzip.compress((json.dumps(record) + "\n").encode(), mtime=0)


def legacy_bytes(items: list[LogEntry]) -> bytes:
    return gzip.compress(("\n".join(e.to_line() for e in items) + "\n").encode(), mtime=0)


@dataclass
class Vended:
    """Where each object went, and the connections of each (by key)."""

    root: Path
    objects: dict[str, list[LogEntry]] = field(default_factory=dict)

    def local(self, key: str) -> Path:
        return self.root / key


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(root: Path, s3: Any | None = None) -> Vended:
    """Both layouts, days 2026-09-08 (outside the tests' window), 09-10 and 09-11; an access
    log and notes.txt beside the 09-10 connection logs. Locally under ``root``, and in the
    bucket when ``s3`` is given."""
    layout = Vended(root)
    if s3 is not None:
        s3.create_bucket(Bucket=BUCKET)
    logs = {
        f"{FLAT}2026/09/08/delivery-a1": entries(day("2026-09-08T10:00"), 4, 1),
        f"{FLAT}2026/09/10/delivery-a2": entries(day("2026-09-10T10:00"), 5, 2),
        f"{HIVE}year=2026/month=09/day=08/delivery-b1": entries(day("2026-09-08T11:00"), 3, 3),
        f"{HIVE}year=2026/month=09/day=10/delivery-b2": entries(day("2026-09-10T11:00"), 6, 4),
        f"{HIVE}year=2026/month=09/day=11/delivery-b3": entries(day("2026-09-10T23:58"), 2, 5),
    }
    for key, items in logs.items():
        _put(layout, s3, key, parquet_bytes(items))
        layout.objects[key] = items
    _put(layout, s3, f"{HIVE}year=2026/month=09/day=10/delivery-access", access_log_json())
    _put(layout, s3, f"{FLAT}2026/09/10/notes.txt", b"not a connection log\n")
    return layout


def _put(layout: Vended, s3: Any | None, key: str, data: bytes) -> None:
    path = layout.local(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if s3 is not None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
