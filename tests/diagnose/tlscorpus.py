"""A connection-log corpus of TLS handshakes in which every policy answer is known."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mtls_doctor.knowledge.fields import LogEntry

T0 = datetime(2024, 4, 5, 12, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 4, 6, 0, 0, 0, tzinfo=UTC)
KEY = (
    "2024/04/05/conn_log_123456789012_elasticloadbalancing_us-east-1_app.demo."
    "0123456789abcdef_20240405T1315Z_10.0.0.5_tls1.log.gz"
)

# (client, protocol, cipher, key exchange, status, connections)
HANDSHAKES = [
    ("198.51.100.1", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "X25519MLKEM768", "Success", 5),
    ("198.51.100.2", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "x25519", "Success", 4),
    ("198.51.100.3", "TLSv1.1", "ECDHE-RSA-AES128-SHA", "secp256r1", "Success", 3),
    ("198.51.100.4", "TLSv1", "AES128-SHA", "-", "Failed:ClientCertUntrusted", 2),
    ("203.0.113.9", "TLSv1.2", "AES128-SHA", "-", "Success", 1),
    ("2001:db8::7", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "x25519", "Success", 2),
]
TLS_CONNECTIONS = sum(h[-1] for h in HANDSHAKES)  # 17
NOT_TLS = 2  # plain TCP connections: no tls_protocol


def line(
    at: datetime, ip: str, protocol: str | None, cipher: str | None, kx: str | None, status: str
) -> str:
    tls = protocol is not None
    return LogEntry(
        timestamp=at,
        client_ip=ip,
        client_port=40000,
        listener_port=443,
        tls_protocol=protocol,
        tls_cipher=cipher,
        tls_handshake_latency=0.01 if tls else None,
        leaf_client_cert_subject="CN=client,O=Example" if tls else None,
        not_before=datetime(2024, 1, 1, tzinfo=UTC) if tls else None,
        not_after=datetime(2025, 1, 1, tzinfo=UTC) if tls else None,
        leaf_client_cert_serial_number="0A1B" if tls else None,
        tls_verify_status=status,
        conn_trace_id="TID_" + "cd" * 16,
        tls_keyexchange=None if kx == "-" else kx,
        elb="app/demo/0123456789abcdef",
        ip_address="10.0.0.5",
    ).to_line()


def tls_lines() -> list[str]:
    lines, minute = [], 0
    for ip, protocol, cipher, kx, status, count in HANDSHAKES:
        for _ in range(count):
            lines.append(line(T0 + timedelta(minutes=minute), ip, protocol, cipher, kx, status))
            minute += 1
    for i in range(NOT_TLS):
        lines.append(line(T0 + timedelta(minutes=minute + i), "192.0.2.8", None, None, None, "-"))
    return lines


def write_tls_logs(folder: Path, lines: list[str] | None = None) -> Path:
    """The corpus as one gzipped connection log under ``folder``; the file's path."""
    path = folder / KEY.rsplit("/", 1)[1]
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines or tls_lines()) + "\n").encode()))
    return path
