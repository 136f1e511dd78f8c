"""Format detection by content: every format, gzip or not, and any bytes without an error."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from mtls_doctor.logs.vended.detect import (
    DELIMITED,
    JSONL,
    LEGACY,
    PARQUET,
    W3C,
    detect_file,
    sniff,
    split_plain,
)
from tests.logs.corpus import AWS_FAILED, AWS_SUCCESS, PLAIN_HTTP, TLS_NO_MTLS, line
from tests.logs.vended.records import record

FAST = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
subjects = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'), max_size=30
)
lines = st.one_of(
    st.sampled_from([AWS_SUCCESS, AWS_FAILED, TLS_NO_MTLS, PLAIN_HTTP]),
    st.builds(lambda s: line(subject=f'"{s}"'), subjects),
)
packed = st.booleans()


def _maybe_gzip(data: bytes, gz: bool) -> bytes:
    return gzip.compress(data) if gz else data


def _delimited(rows: list[str], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quotechar='"', lineterminator="\n")
    for row in rows:
        writer.writerow(split_plain(row, " "))
    return out.getvalue().encode()


@FAST
@given(st.lists(lines, min_size=1, max_size=5), packed)
def test_legacy_lines_are_legacy(rows: list[str], gz: bool) -> None:
    found = sniff(_maybe_gzip("\n".join(rows).encode() + b"\n", gz))
    assert (found.format, found.gzip, found.connection) == (LEGACY, gz, True)


@FAST
@given(st.lists(lines, min_size=1, max_size=5), packed, st.booleans())
def test_json_lines_are_json(rows: list[str], gz: bool, typed: bool) -> None:
    data = "".join(json.dumps(record(r, typed=typed)) + "\n" for r in rows).encode()
    found = sniff(_maybe_gzip(data, gz))
    assert (found.format, found.gzip, found.connection) == (JSONL, gz, True)


@FAST
@given(st.lists(lines, min_size=1, max_size=5), packed, st.sampled_from(["\t", ","]))
def test_delimited_plain_is_told_by_its_first_delimiter(
    rows: list[str], gz: bool, delimiter: str
) -> None:
    found = sniff(_maybe_gzip(_delimited(rows, delimiter), gz))
    assert (found.format, found.gzip, found.delimiter) == (DELIMITED, gz, delimiter)
    assert found.connection is True


@FAST
@given(
    st.sampled_from(['\t "', "a,b", "\t", "x\ty z", ", ,", "#", "#x y", "# no directive"]),
    st.lists(lines, min_size=1, max_size=4),
    packed,
)
def test_a_damaged_first_line_leaves_a_legacy_file_legacy(
    damaged: str, rows: list[str], gz: bool
) -> None:
    """A tab or a comma in a bad first line must not make every good line after it be
    split at tabs or commas, nor a # make them W3C data before a #Fields: line (both found
    by tests/logs/test_properties.py): only a W3C directive (#Name:) says W3C."""
    found = sniff(_maybe_gzip("\n".join([damaged, *rows]).encode() + b"\n", gz))
    assert (found.format, found.delimiter, found.connection) == (LEGACY, " ", True)


def test_a_head_of_garbage_only_is_legacy_and_not_a_connection_log() -> None:
    found = sniff(b'\t "\nnot,a,log\n')
    assert (found.format, found.connection) == (LEGACY, False)


@FAST
@given(st.lists(lines, min_size=0, max_size=3), packed, st.sampled_from([" ", "\t", ","]))
def test_w3c_names_its_fields(rows: list[str], gz: bool, delimiter: str) -> None:
    header = f"#Version: 1.0\n#Fields: {delimiter.join(VENDED_FIELD_NAMES)}\n"
    body = (
        b"".join(r.encode() + b"\n" for r in rows)
        if delimiter == " "
        else _delimited(rows, delimiter)
    )
    found = sniff(_maybe_gzip(header.encode() + body, gz))
    assert (found.format, found.gzip, found.fields) == (W3C, gz, VENDED_FIELD_NAMES)
    assert found.delimiter == delimiter and found.connection is True


@FAST
@given(st.binary(max_size=300), packed)
def test_any_bytes_are_sniffed_without_an_error(data: bytes, gz: bool) -> None:
    found = sniff(_maybe_gzip(data, gz))
    assert found.format in (LEGACY, JSONL, PARQUET, W3C, DELIMITED)


def test_other_records_are_not_connection_logs() -> None:
    health = b'{"type":"health","time":"x","target_addr":"10.0.0.1:80"}\n'
    assert sniff(health).connection is False
    access = b"#Fields: time client_port elb\n2026 1 app/x\n"
    assert sniff(access).connection is False
    assert sniff(b"hello world, notes\n").connection is False
    assert sniff(b'{"time": "x", "tls_verify_status": "Suc').connection is None  # cut: unknown


def test_parquet_is_told_by_its_magic_and_footer(tmp_path: Path) -> None:
    conn, other = tmp_path / "a", tmp_path / "b"
    pq.write_table(pa.table({"time": ["x"], "tls_verify_status": ["Success"]}), conn)
    pq.write_table(pa.table({"time": ["x"], "target_addr": ["y"]}), other)
    assert detect_file(conn).format == PARQUET and detect_file(conn).connection is True
    assert detect_file(other).connection is False
