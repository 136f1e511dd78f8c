"""A crafted connection-log corpus in which every number is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mtls_doctor.knowledge.fields import LogEntry

T0 = datetime(2024, 4, 5, 12, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 4, 6, 0, 0, 0, tzinfo=UTC)
GOOD_NB = datetime(2024, 1, 1, tzinfo=UTC)
GOOD_NA = datetime(2025, 1, 1, tzinfo=UTC)
EXPIRED_NA = datetime(2024, 4, 2, 19, 17, 20, tzinfo=UTC)
SOON_NA = datetime(2024, 4, 20, tzinfo=UTC)


def entry(
    at: datetime,
    ip: str,
    status: str,
    *,
    subject: str | None = "CN=good client,O=Example Corp,C=US",
    serial: str | None = "0A1B",
    not_before: datetime | None = GOOD_NB,
    not_after: datetime | None = GOOD_NA,
    port: int = 443,
    elb: str = "app/demo/0123456789abcdef",
) -> str:
    tls = status != "-"
    return LogEntry(
        timestamp=at,
        client_ip=ip,
        client_port=40000,
        listener_port=port,
        tls_protocol="TLSv1.3" if tls else None,
        tls_cipher="TLS_AES_128_GCM_SHA256" if tls else None,
        tls_handshake_latency=0.012 if status == "Success" else None,
        leaf_client_cert_subject=subject if tls else None,
        not_before=not_before if tls else None,
        not_after=not_after if tls else None,
        leaf_client_cert_serial_number=serial if tls else None,
        tls_verify_status=status,
        conn_trace_id="TID_" + "ab" * 16,
        tls_keyexchange="x25519" if tls else None,
        elb=elb,
        ip_address="10.0.0.5",
    ).to_line()


def crafted_lines() -> list[str]:
    """60 successes over an hour; then 12 expired (3 clients); 5 not-yet-valid (clock skew);
    3 revoked; 2 plain HTTP; 1 undocumented code; 1 success expiring soon: 84 lines."""
    lines = []
    for i in range(60):
        lines.append(entry(T0 + timedelta(minutes=i), f"198.51.100.{i % 4 + 1}", "Success"))
    for i in range(12):
        lines.append(
            entry(
                T0 + timedelta(minutes=61 + i),
                f"203.0.113.{i % 3 + 1}",
                "Failed:ClientCertExpired",
                subject="CN=old client,O=Example Corp,C=US",
                serial="02",
                not_before=datetime(2024, 1, 2, tzinfo=UTC),
                not_after=EXPIRED_NA,
            )
        )
    for i in range(5):
        at = T0 + timedelta(minutes=62 + i)
        lines.append(
            entry(
                at,
                "192.0.2.50",
                "Failed:ClientCertNotYetValid",
                subject="CN=fresh client,O=Example Corp,C=US",
                serial="03",
                not_before=at + timedelta(minutes=4),
            )
        )
    for i in range(3):
        lines.append(
            entry(
                T0 + timedelta(minutes=63 + i),
                "192.0.2.60",
                "Failed:ClientCertCrlHit",
                subject="CN=revoked client,O=Example Corp,C=US",
                serial="00FF",
            )
        )
    for i in range(2):
        lines.append(entry(T0 + timedelta(minutes=10 + i), "192.0.2.70", "-", port=80))
    lines.append(entry(T0 + timedelta(minutes=70), "192.0.2.80", "Failed:SomethingNew"))
    # A successful client whose certificate runs out soon after NOW.
    lines.append(
        entry(
            T0 + timedelta(minutes=71),
            "198.51.100.9",
            "Success",
            subject="CN=soon client,O=Example Corp,C=US",
            serial="04",
            not_after=SOON_NA,
        )
    )
    return lines


def write_corpus(folder: Path, lines: list[str] | None = None) -> Path:
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (
        "conn_log_123456789012_elasticloadbalancing_us-east-1_app.demo.0123456789abcdef_"
        "20240405T1315Z_10.0.0.5_abc123.log.gz"
    )
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines if lines is not None else crafted_lines()) + "\n")
    return path
