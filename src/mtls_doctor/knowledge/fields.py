"""The ALB connection-log line: its 15 fields, in order, and how to write one.

This is the one place that knows the field list (spec §1.4). The parser, the DuckDB store,
the sandbox's log writer and the Athena DDL all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Field:
    """One documented field: its AWS name, its 1-based position and its DuckDB column type."""

    name: str
    position: int
    sql_type: str
    description: str


FIELDS: tuple[Field, ...] = (
    Field("timestamp", 1, "TIMESTAMP", "when the connection was made or failed (UTC)"),
    Field("client_ip", 2, "VARCHAR", "client address, IPv4 or IPv6"),
    Field("client_port", 3, "INTEGER", "client source port"),
    Field("listener_port", 4, "INTEGER", "listener port"),
    Field("tls_protocol", 5, "VARCHAR", "TLS version, e.g. TLSv1.2"),
    Field("tls_cipher", 6, "VARCHAR", "negotiated cipher (OpenSSL name)"),
    Field("tls_handshake_latency", 7, "DOUBLE", "seconds for a successful handshake"),
    Field("leaf_client_cert_subject", 8, "VARCHAR", "leaf certificate subject (quoted)"),
    Field("leaf_client_cert_validity", 9, "VARCHAR", "NotBefore=...;NotAfter=..."),
    Field("leaf_client_cert_serial_number", 10, "VARCHAR", "leaf serial, upper-case hex"),
    Field("tls_verify_status", 11, "VARCHAR", "Success, Failed:<code> or -"),
    Field("conn_trace_id", 12, "VARCHAR", "TID_ + 32 hex, joins to access logs"),
    Field("tls_keyexchange", 13, "VARCHAR", "key exchange group, e.g. secp256r1"),
    Field("elb", 14, "VARCHAR", "load balancer resource id, app/NAME/ID"),
    Field("ip_address", 15, "VARCHAR", "IP of the load balancer node"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
MIN_FIELDS = 12  # fields 1-12 are in every version of the format; 13-15 were added later
SUBJECT_POSITION = 8  # the only quoted field

# Vended (CloudWatch Logs-delivered) connection logs name their record fields as the legacy
# line orders them, with ``time`` in place of ``timestamp`` (spec §2.2 [MODEL]: the
# ``recordFields`` of ALB_CONNECTION_LOGS). ``timestamp`` is accepted as a synonym.
VENDED_FIELD_NAMES: tuple[str, ...] = ("time", *FIELD_NAMES[1:])
VENDED_SYNONYMS: dict[str, str] = {"timestamp": "time"}
# A record with neither of these is not a connection record (an access-log or health-check
# record delivered alongside, spec §2.2): it is skipped, as an access-log object is.
VENDED_KEY_FIELDS: tuple[str, ...] = ("tls_verify_status", "client_ip")

# Columns the tool derives from the fields; part of the JSON/CSV output contract.
DERIVED_COLUMNS: tuple[str, ...] = ("not_before", "not_after", "error_code", "source_file")
OUTPUT_COLUMNS: tuple[str, ...] = FIELD_NAMES + DERIVED_COLUMNS


def format_timestamp(value: datetime) -> str:
    """``2023-10-04T17:05:15.514108Z``: UTC, microseconds, ``Z``, as the ALB writes it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_validity(not_before: datetime | None, not_after: datetime | None) -> str:
    """``NotBefore=...;NotAfter=...`` in whole seconds, or ``-`` when there is no certificate."""
    if not_before is None or not_after is None:
        return "-"
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (
        f"NotBefore={not_before.astimezone(UTC).strftime(fmt)};"
        f"NotAfter={not_after.astimezone(UTC).strftime(fmt)}"
    )


@dataclass(frozen=True)
class LogEntry:
    """The values of one connection-log line, as the ALB would write them."""

    timestamp: datetime
    client_ip: str
    client_port: int
    listener_port: int
    tls_protocol: str | None
    tls_cipher: str | None
    tls_handshake_latency: float | None
    leaf_client_cert_subject: str | None
    not_before: datetime | None
    not_after: datetime | None
    leaf_client_cert_serial_number: str | None
    tls_verify_status: str
    conn_trace_id: str
    tls_keyexchange: str | None
    elb: str | None
    ip_address: str | None

    def to_line(self) -> str:
        """One log line with all 15 fields, ``-`` for nulls, the subject in double quotes."""

        def dash(value: object) -> str:
            return "-" if value is None or value == "" else str(value)

        latency = "-" if self.tls_handshake_latency is None else f"{self.tls_handshake_latency:.3f}"
        subject = self.leaf_client_cert_subject or "-"
        return " ".join(
            (
                format_timestamp(self.timestamp),
                self.client_ip,
                str(self.client_port),
                str(self.listener_port),
                dash(self.tls_protocol),
                dash(self.tls_cipher),
                latency,
                # UNCONFIRMED (spec §1.4): how the ALB escapes '"' inside a DN; we write it as-is.
                f'"{subject}"',
                format_validity(self.not_before, self.not_after),
                dash(self.leaf_client_cert_serial_number),
                self.tls_verify_status,
                self.conn_trace_id,
                dash(self.tls_keyexchange),
                dash(self.elb),
                dash(self.ip_address),
            )
        )


# --- The vended record (spec §2.2): the same connection as a JSON object ------------------
# Keys are VENDED_FIELD_NAMES, the legacy names with ``time`` for ``timestamp``.
# UNCONFIRMED (spec §2.2): the value types and how an empty value is written, so the writer
# offers each variant the readers must accept; the sandbox and the benchmark corpora use it.

VENDED_EMPTY = ("dash", "null", "missing")  # an empty value as "-", as null, or no key at all


def vended_record(
    entry: LogEntry, *, typed: bool = False, empty: str = "dash"
) -> dict[str, object]:
    """``entry`` as a vended JSON record: strings throughout (as the legacy line has them) or,
    with ``typed``, numbers for the ports and the latency; an empty value written as
    ``empty`` says (:data:`VENDED_EMPTY`). The subject is the DN itself, without quotes."""
    if empty not in VENDED_EMPTY:
        raise ValueError(f"empty must be one of {VENDED_EMPTY}, not {empty!r}")
    latency = entry.tls_handshake_latency
    validity = format_validity(entry.not_before, entry.not_after)
    values: tuple[object, ...] = (
        format_timestamp(entry.timestamp),
        entry.client_ip,
        entry.client_port if typed else str(entry.client_port),
        entry.listener_port if typed else str(entry.listener_port),
        entry.tls_protocol,
        entry.tls_cipher,
        # Milliseconds, as the legacy line has them, in either spelling.
        latency if latency is None else round(latency, 3) if typed else f"{latency:.3f}",
        entry.leaf_client_cert_subject,
        None if validity == "-" else validity,
        entry.leaf_client_cert_serial_number,
        entry.tls_verify_status,  # "-" (plain HTTP) is a status, never an empty value
        entry.conn_trace_id,
        entry.tls_keyexchange,
        entry.elb,
        entry.ip_address,
    )
    record: dict[str, object] = {}
    for name, value in zip(VENDED_FIELD_NAMES, values, strict=True):
        if value is None or value == "":
            if empty == "missing":
                continue
            value = "-" if empty == "dash" else None
        record[name] = value
    return record
