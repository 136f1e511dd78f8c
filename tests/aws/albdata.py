"""A bucket laid out like the ALB's: several days, two prefixes, two regions, stray objects.

Every connection-log object is also written under a local mirror folder, so a test can read
the same files locally and compare.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.knowledge.fields import LogEntry

ACCOUNT = "123456789012"
BUCKET = "alb-logs"
WEB = "app.web.1234567890abcdef"
API = "app.api.fedcba0987654321"
STATUSES = ("Success", "Failed:ClientCertExpired", "Failed:ClientCertUntrusted", "Success")


def entry(at: datetime, n: int, status: str, serial: str = "0A1B2C") -> LogEntry:
    return LogEntry(
        timestamp=at,
        client_ip=f"203.0.113.{n % 250 + 1}",
        client_port=40000 + n,
        listener_port=443,
        tls_protocol="TLSv1.2",
        tls_cipher="ECDHE-RSA-AES128-GCM-SHA256",
        tls_handshake_latency=0.012 if status == "Success" else None,
        leaf_client_cert_subject="CN=client,O=Example",
        not_before=datetime(2024, 1, 1, tzinfo=UTC),
        not_after=datetime(2025, 1, 1, tzinfo=UTC),
        leaf_client_cert_serial_number=serial,
        tls_verify_status=status,
        conn_trace_id=f"TID_{n:032x}",
        tls_keyexchange="secp256r1",
        elb="app/web/1234567890abcdef",
        ip_address="10.0.0.5",
    )


def log_key(
    prefix: str, region: str, lb: str, end: str, *, delivered: str, dot: bool = False
) -> str:
    sep = "." if dot else "_"
    name = (
        f"conn_log{sep}{ACCOUNT}_elasticloadbalancing_{region}_{lb}_{end}_"
        f"10.000.000.005_x{end[-5:-1]}.log.gz"
    )
    return f"{prefix}AWSLogs/{ACCOUNT}/elasticloadbalancing/{region}/{delivered}/{name}"


def lines_for(end: str, count: int, seed: int) -> bytes:
    stop = datetime.strptime(end, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    lines = []
    for i in range(count):
        at = stop - timedelta(seconds=290 - i * 7)
        lines.append(entry(at, seed * 10 + i, STATUSES[(seed + i) % len(STATUSES)]).to_line())
    return ("\n".join(lines) + "\n").encode()


# (prefix, region, lb, end-time, delivery folder, dot-name, lines)
LOG_FILES = (
    ("web-logs/", "us-east-1", WEB, "20240501T1005Z", "2024/05/01", False, 3),
    ("web-logs/", "us-east-1", WEB, "20240501T2355Z", "2024/05/01", False, 4),
    ("web-logs/", "us-east-1", WEB, "20240502T0000Z", "2024/05/02", False, 5),
    ("web-logs/", "us-east-1", WEB, "20240502T1005Z", "2024/05/02", False, 6),
    ("web-logs/", "us-east-1", WEB, "20240502T1105Z", "2024/05/02", True, 7),
    ("web-logs/", "us-east-1", API, "20240502T1105Z", "2024/05/02", False, 8),
    ("web-logs/", "us-east-1", WEB, "20240502T1300Z", "2024/05/02", False, 9),
    ("web-logs/", "us-east-1", WEB, "20240503T0905Z", "2024/05/03", False, 2),
    ("web-logs/", "eu-west-1", WEB, "20240502T1005Z", "2024/05/02", False, 3),
    ("api-logs/", "us-east-1", API, "20240502T1005Z", "2024/05/02", False, 4),
)
STRAY = (
    # An access log in the same folder: skipped without a word.
    f"web-logs/AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2024/05/02/"
    f"{ACCOUNT}_elasticloadbalancing_us-east-1_{WEB}_20240502T1005Z_10.0.0.5_abc.log.gz",
    f"web-logs/AWSLogs/{ACCOUNT}/ELBConnectionLogTestFile",
    f"web-logs/AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2024/05/02/notes.txt",
    "other/readme.txt",
)


@dataclass
class Layout:
    mirror: Path
    keys: dict[str, int] = field(default_factory=dict)  # key -> number of lines

    def local(self, key: str) -> Path:
        return self.mirror / key


def populate(s3: Any, mirror: Path, bucket: str = BUCKET) -> Layout:
    s3.create_bucket(Bucket=bucket)
    layout = Layout(mirror)
    for seed, (prefix, region, lb, end, day, dot, count) in enumerate(LOG_FILES):
        key = log_key(prefix, region, lb, end, delivered=day, dot=dot)
        data = gzip.compress(lines_for(end, count, seed), mtime=0)
        put(s3, bucket, key, data, mirror)
        layout.keys[key] = count
    for key in STRAY:
        s3.put_object(Bucket=bucket, Key=key, Body=b"not a connection log\n")
    return layout


def put(s3: Any, bucket: str, key: str, data: bytes, mirror: Path) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    local = mirror / key
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)


def key_for(end: str, lb: str = WEB, region: str = "us-east-1", prefix: str = "web-logs/") -> str:
    for p, r, name, e, day, dot, _ in LOG_FILES:
        if (p, r, name, e) == (prefix, region, lb, end):
            return log_key(p, r, name, e, delivered=day, dot=dot)
    raise KeyError(end)
