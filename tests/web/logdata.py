"""A small, fixed incident as ALB connection logs, for the report and dashboard tests.

An hour of traffic from 2024-04-05T17:00Z: eight clients succeed throughout; from 17:40
three of them fail with ClientCertUntrusted (a trust-store change); one client fails with
ClientCertExpired all along; one certificate that works expires within 30 days of NOW.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.logs.ingest import ingest_inputs

START = datetime(2024, 4, 5, 17, 0, tzinfo=UTC)
CHANGE = START + timedelta(minutes=40)
NOW = START + timedelta(hours=2)
ELB = "app/demo/0123456789abcdef"
EXPIRED_SERIAL = "0DEAD1"
SOON_SERIAL = "50015"


def _entry(
    at: datetime, ip: str, status: str, serial: str, not_after: datetime, n: int
) -> LogEntry:
    return LogEntry(
        timestamp=at,
        client_ip=ip,
        client_port=40000 + n,
        listener_port=443 if n % 5 else 8443,
        tls_protocol="TLSv1.3",
        tls_cipher="TLS_AES_128_GCM_SHA256",
        tls_handshake_latency=0.004 if status == "Success" else None,
        leaf_client_cert_subject=f"CN={ip}.client.test,O=Example",
        not_before=START - timedelta(days=300),
        not_after=not_after,
        leaf_client_cert_serial_number=serial,
        tls_verify_status=status,
        conn_trace_id=f"TID_{n:032x}",
        tls_keyexchange="x25519",
        elb=ELB,
        ip_address="10.0.0.5",
    )


def entries() -> list[LogEntry]:
    out: list[LogEntry] = []
    far = START + timedelta(days=300)
    for minute in range(60):
        at = START + timedelta(minutes=minute, seconds=7)
        for k in range(8):
            ip = f"198.51.100.{10 + k}"
            broken = k < 3 and at >= CHANGE
            status = "Failed:ClientCertUntrusted" if broken else "Success"
            serial, not_after = (SOON_SERIAL, NOW + timedelta(days=10)) if k == 7 else (
                f"A{k}", far)  # fmt: skip
            out.append(_entry(at + timedelta(seconds=k), ip, status, serial, not_after, len(out)))
        if minute % 3 == 0:
            out.append(_entry(at, "203.0.113.9", "Failed:ClientCertExpired", EXPIRED_SERIAL,
                              START - timedelta(days=1), len(out)))  # fmt: skip
    return out


def write_logs(folder: Path) -> Path:
    """One gzip file per 20 minutes, named like the ALB's."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = entries()
    for part in range(3):
        end = START + timedelta(minutes=20 * (part + 1))
        chosen = [e for e in rows if end - timedelta(minutes=20) <= e.timestamp < end]
        name = f"conn_log_123456789012_demo_{end:%Y%m%dT%H%MZ}_10.0.0.5_{part:08d}.log.gz"
        with gzip.open(folder / name, "wt") as handle:
            handle.write("".join(e.to_line() + "\n" for e in chosen))
    return folder


def make_store(folder: Path) -> Path:
    db = folder / "store.duckdb"
    ingest_inputs([str(write_logs(folder / "logs"))], db, now=NOW)
    return db
