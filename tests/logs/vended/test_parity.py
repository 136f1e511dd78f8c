"""Parity (issue #17): the same connections written as legacy ``.log.gz``, vended JSON lines
with string values, vended JSON lines with typed values (numbers, null and missing keys) and
Parquet give the identical ``diagnose --format json`` and ``logs query`` counts.

The corpora come from benchmarks/gen.py (every format from the same seed, file by file and
line by line: subjects with spaces, commas and non-ASCII letters, IPv6 clients, plain HTTP,
several failure codes), plus a crafted file of edge cases. CloudWatch Logs group parity is in
tests/aws (helper cwlogs).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from benchmarks.gen import FORMATS, write_corpus
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.fields import LogEntry, vended_record
from mtls_doctor.sandbox.logwriter import vended_object_name

AT = "2024-04-05T18:20:00Z"  # inside the corpus's span, as during an incident
T0 = datetime(2024, 4, 5, 18, 0, 3, 250000, tzinfo=UTC)
EDGE = LogEntry(
    timestamp=T0,
    client_ip="2001:db8::1",
    client_port=1024,
    listener_port=8443,
    tls_protocol="TLSv1.3",
    tls_cipher="TLS_AES_128_GCM_SHA256",
    tls_handshake_latency=0.001,
    leaf_client_cert_subject="CN=édge client,OU=a=b,O=Example\\, Inc.,C=US",
    not_before=datetime(2024, 3, 1, tzinfo=UTC),
    not_after=datetime(2024, 4, 20, tzinfo=UTC),  # expires soon after AT: expiry evidence
    leaf_client_cert_serial_number="00",
    tls_verify_status="Success",
    conn_trace_id="TID_" + "0f" * 16,
    tls_keyexchange=None,  # an empty value among present ones
    elb=None,
    ip_address=None,
)
EDGES = (
    EDGE,
    replace(EDGE, timestamp=T0 + timedelta(seconds=1), tls_verify_status="Failed:SomethingNew",
            tls_handshake_latency=None),
    replace(EDGE, timestamp=T0 + timedelta(seconds=2), tls_verify_status="Failed:ClientCertExpired",
            tls_handshake_latency=None, not_after=datetime(2024, 4, 1, tzinfo=UTC)),
    replace(EDGE, timestamp=T0 + timedelta(seconds=3), leaf_client_cert_subject=None,
            not_before=None, not_after=None, leaf_client_cert_serial_number=None),
)  # fmt: skip
EDGE_NAME = (
    "conn_log_123456789012_elasticloadbalancing_us-east-2_app.edge.0123456789abcdef_"
    "20240405T1805Z_010.000.000.005_edgecase.log.gz"
)

VENDED = FORMATS[1:]


def write_edges(folder: Path, fmt: str) -> Path:
    """The crafted edge cases as one more file of ``fmt`` (typed JSON: null, then missing)."""
    if fmt == "legacy":
        path = folder / EDGE_NAME
        path.write_bytes(gzip.compress("".join(e.to_line() + "\n" for e in EDGES).encode()))
        return path
    path = folder / vended_object_name(EDGE_NAME, fmt)
    if fmt == "parquet":
        from benchmarks.gen import write_parquet

        write_parquet(path, EDGES, row_group=3)
        return path
    typed = fmt == "json-typed"
    empties = ("null", "missing") if typed else ("dash",)
    records = [
        vended_record(e, typed=typed, empty=empties[i % len(empties)]) for i, e in enumerate(EDGES)
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each format's files: the generated corpus (3 files, 1500 connections) and the edges."""
    out = {}
    for fmt in FORMATS:
        folder = tmp_path_factory.mktemp(fmt)
        files = write_corpus(folder, lines=1500, files=3, seed=11, clients=40, fmt=fmt,
                             row_group=128)  # fmt: skip
        out[fmt] = [str(p) for p in [*files, write_edges(folder, fmt)]]
    return out


def diagnose(files: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["diagnose", *files, "--format", "json", "--at", AT])
    assert result.exit_code == 1, result.stderr  # failures found
    report = json.loads(result.stdout)
    report.pop("generated_at")
    return report  # type: ignore[no-any-return]


def counts(files: list[str], column: str) -> list[dict[str, object]]:
    args = ["logs", "query", *files, "--count-by", column, "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_legacy_baseline_is_not_empty(corpora: dict[str, list[str]]) -> None:
    report = diagnose(corpora["legacy"])
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert summary["connections"] == 1500 + len(EDGES) and summary["malformed_lines"] == 0
    assert summary["failed"] > 100 and summary["not_tls"] > 0 and summary["files"] == 4
    assert summary["unknown_code_lines"] == 1  # Failed:SomethingNew


@pytest.mark.parametrize("fmt", VENDED)
def test_vended_formats_diagnose_as_legacy_does(fmt: str, corpora: dict[str, list[str]]) -> None:
    assert diagnose(corpora[fmt]) == diagnose(corpora["legacy"])


@pytest.mark.parametrize("column", ["tls_verify_status", "client_ip", "leaf_client_cert_subject"])
@pytest.mark.parametrize("fmt", VENDED)
def test_vended_formats_count_as_legacy_does(
    fmt: str, column: str, corpora: dict[str, list[str]]
) -> None:
    assert counts(corpora[fmt], column) == counts(corpora["legacy"], column)


@pytest.mark.parametrize("fmt", VENDED)
def test_without_the_compiled_scanner_too(
    fmt: str, corpora: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = diagnose(corpora["legacy"])
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    assert diagnose(corpora[fmt]) == expected


@pytest.mark.parametrize("fmt", VENDED)
def test_ingested_vended_formats_diagnose_as_legacy_does(
    fmt: str, corpora: dict[str, list[str]], tmp_path: Path
) -> None:
    reports = []
    for name in (fmt, "legacy"):
        db = str(tmp_path / f"{name}.duckdb")
        result = CliRunner().invoke(cli, ["ingest", *corpora[name], "--db", db])
        assert result.exit_code == 0, result.stderr
        reports.append(diagnose(["--db", db]))
    assert reports[0] == reports[1]
    assert reports[1]["summary"]["connections"] == 1500 + len(EDGES)  # type: ignore[index]
