"""The vended record writer (knowledge/fields.py ``vended_record``) and the vended corpora of
benchmarks/gen.py: each variant holds exactly the connection the legacy line holds."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from benchmarks.gen import FORMATS, write_corpus

from mtls_doctor.knowledge.fields import FIELD_NAMES, LogEntry, vended_record

AT = datetime(2024, 4, 5, 18, 0, 1, 500, tzinfo=UTC)
FAILED = LogEntry(
    timestamp=AT,
    client_ip="2001:db8::7",
    client_port=50123,
    listener_port=443,
    tls_protocol="TLSv1.3",
    tls_cipher="TLS_AES_128_GCM_SHA256",
    tls_handshake_latency=None,
    leaf_client_cert_subject="CN=client one,O=Example, Inc.,OU=a=b",
    not_before=datetime(2024, 1, 1, tzinfo=UTC),
    not_after=datetime(2025, 1, 1, tzinfo=UTC),
    leaf_client_cert_serial_number="00AB12",
    tls_verify_status="Failed:ClientCertExpired",
    conn_trace_id="TID_" + "ab" * 16,
    tls_keyexchange="x25519",
    elb="app/lb/0123456789abcdef",
    ip_address="10.0.0.1",
)
PLAIN = LogEntry(AT, "203.0.113.9", 61000, 80, None, None, None, None, None, None, None, "-",
                 "TID_" + "cd" * 16, None, None, None)  # fmt: skip
SUCCESS = replace(FAILED, tls_handshake_latency=0.25, tls_verify_status="Success")


def as_legacy(record: dict[str, object]) -> str:
    """The legacy line a reader must make of ``record`` (a reference, written independently)."""
    values = []
    for name in FIELD_NAMES:
        value = record.get("time" if name == "timestamp" else name)
        if value is None or value == "-":
            text = '"-"' if name == "leaf_client_cert_subject" else "-"
        elif name == "tls_handshake_latency":
            text = f"{float(str(value)):.3f}"
        elif name == "leaf_client_cert_subject":
            text = f'"{value}"'
        else:
            text = str(value)
        values.append(text)
    return " ".join(values)


@pytest.mark.parametrize("entry", [FAILED, PLAIN, SUCCESS], ids=["failed", "plain", "success"])
@pytest.mark.parametrize(
    ("typed", "empty"), [(False, "dash"), (True, "null"), (True, "missing"), (False, "null")]
)
def test_every_variant_holds_the_legacy_line(entry: LogEntry, typed: bool, empty: str) -> None:
    record = vended_record(entry, typed=typed, empty=empty)
    assert as_legacy(record) == entry.to_line()
    assert next(iter(record)) == "time" and "timestamp" not in record
    assert json.loads(json.dumps(record)) == record


def test_value_types_and_empty_values() -> None:
    strings = vended_record(SUCCESS)
    assert all(isinstance(v, str) for v in strings.values())
    assert strings["client_port"] == "50123" and strings["tls_handshake_latency"] == "0.250"
    assert strings["leaf_client_cert_subject"] == "CN=client one,O=Example, Inc.,OU=a=b"
    typed = vended_record(SUCCESS, typed=True)
    assert typed["client_port"] == 50123 and typed["listener_port"] == 443
    assert typed["tls_handshake_latency"] == 0.25
    raw = replace(SUCCESS, tls_handshake_latency=0.0030803140000443)  # as a clock measures it
    assert vended_record(raw, typed=True)["tls_handshake_latency"] == 0.003
    plain_null = vended_record(PLAIN, typed=True, empty="null")
    assert plain_null["tls_protocol"] is None and plain_null["leaf_client_cert_validity"] is None
    assert plain_null["tls_verify_status"] == "-"  # a status, not an empty value
    missing = vended_record(PLAIN, empty="missing")
    assert "tls_protocol" not in missing and "ip_address" not in missing
    assert len(missing) == 6 and missing["tls_verify_status"] == "-"
    assert len(vended_record(PLAIN, empty="dash")) == 15
    with pytest.raises(ValueError, match="empty must be one of"):
        vended_record(PLAIN, empty="blank")


def read_any(path: Path) -> list[str]:
    """The legacy lines a file of the corpus holds, whatever its format."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [as_legacy(row) for row in pq.read_table(path).to_pylist()]
    text = gzip.decompress(path.read_bytes()).decode()
    if path.name.endswith(".json.gz"):
        return [as_legacy(json.loads(line)) for line in text.splitlines()]
    return text.splitlines()


def test_the_corpus_formats_hold_the_same_connections(tmp_path: Path) -> None:
    written = {
        fmt: write_corpus(tmp_path / fmt, lines=400, files=2, clients=20, fmt=fmt, row_group=64)
        for fmt in FORMATS
    }
    legacy = [read_any(path) for path in written["legacy"]]
    assert sum(map(len, legacy)) == 400
    for fmt in FORMATS[1:]:
        assert [read_any(path) for path in written[fmt]] == legacy, fmt
    typed = gzip.decompress(written["json-typed"][0].read_bytes()).decode().splitlines()
    assert any(": null" in line or ":null" in line for line in typed)
    assert any(len(json.loads(line)) < 15 for line in typed)  # some keys left out
    import pyarrow.parquet as pq

    assert pq.ParquetFile(written["parquet"][0]).metadata.num_row_groups == 4  # 200 rows / 64
    with pytest.raises(ValueError, match="is not one of"):
        write_corpus(tmp_path / "x", lines=1, files=1, fmt="csv")
