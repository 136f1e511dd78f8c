"""The one conversion: a table of vended columns -> the equivalent legacy lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.logs.api import open_selection
from mtls_doctor.logs.parse import LINE_RE
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.vended.lines import (
    VendedTypeError,
    legacy_bytes,
    legacy_lines,
    unreadable_line,
)
from tests.logs.corpus import AWS_FAILED, AWS_SUCCESS, PLAIN_HTTP, TLS_NO_MTLS, line
from tests.logs.vended.records import normalized, record, table_of

LINES = [AWS_SUCCESS, AWS_FAILED, TLS_NO_MTLS, PLAIN_HTTP, line()]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("typed", [False, True])
@pytest.mark.parametrize("drop_empty", [False, True])
def test_records_give_back_their_legacy_lines(typed: bool, drop_empty: bool) -> None:
    table = table_of([record(x, typed=typed, drop_empty=drop_empty) for x in LINES])
    assert legacy_lines(table).to_pylist() == [normalized(x) for x in LINES]


def test_bytes_end_every_line_and_keep_skipped_records_as_empty_lines() -> None:
    rows = [record(AWS_SUCCESS), {"type": "health", "time": "x"}, record(AWS_FAILED)]
    table = table_of(rows)
    want = f"{normalized(AWS_SUCCESS)}\n\n{normalized(AWS_FAILED)}\n".encode()
    assert legacy_bytes(table) == want
    assert legacy_bytes(table.slice(1)) == want[want.index(b"\n") + 1 :]
    assert legacy_bytes(pa.table({"time": pa.array([], pa.string())})) == b""


def test_access_log_records_are_skipped() -> None:
    access = {"time": "2026-01-01T00:00:00.000000Z", "client_port": 1, "elb": "app/x/1"}
    table = table_of([access, access])
    assert legacy_lines(table).to_pylist() == ["", ""]


def test_a_null_status_of_a_connection_is_dash() -> None:
    rec = record(PLAIN_HTTP, typed=True)
    assert rec["tls_verify_status"] is None
    assert legacy_lines(table_of([rec])).to_pylist() == [normalized(PLAIN_HTTP)]


def test_timestamp_is_a_synonym_of_time_and_typed_times_are_utc() -> None:
    rec = record(AWS_SUCCESS)
    rec["timestamp"] = rec.pop("time")
    assert legacy_lines(table_of([rec])).to_pylist() == [normalized(AWS_SUCCESS)]
    at = datetime(2023, 10, 4, 17, 5, 15, 514108, tzinfo=UTC)
    for kind in (pa.timestamp("us", tz="UTC"), pa.timestamp("us"), pa.timestamp("ns", "UTC")):
        typed = pa.table({**{k: [v] for k, v in rec.items()}, "timestamp": pa.array([at], kind)})
        assert legacy_lines(typed).to_pylist() == [normalized(AWS_SUCCESS)]
    epoch = pa.table({**{k: [v] for k, v in rec.items()}, "timestamp": [at.timestamp()]})
    assert legacy_lines(epoch)[0].as_py().startswith("2023-10-04T17:05:15.514108Z ")


@pytest.mark.parametrize(
    ("subject", "quoted"),
    [
        ("CN=a b,O=Example\\, Inc.", '"CN=a b,O=Example\\, Inc."'),
        ('CN=say \\"hi\\"', '"CN=say \\22hi\\22"'),
        ('CN="q"', '"CN=\\22q\\22"'),
        ("", '"-"'),
        ("-", '"-"'),
    ],
)
def test_subjects_are_quoted_and_quotes_escaped(subject: str, quoted: str) -> None:
    rec = record(AWS_SUCCESS) | {"leaf_client_cert_subject": subject}
    got = legacy_lines(table_of([rec]))[0].as_py()
    assert got.split(" NotBefore=")[0].endswith(" " + quoted)
    assert re.fullmatch(LINE_RE, got)


def test_a_line_end_inside_a_value_does_not_split_the_record() -> None:
    rec = record(AWS_SUCCESS) | {"leaf_client_cert_subject": "CN=a\nb\rc"}
    data = legacy_bytes(table_of([rec, record(AWS_FAILED)]))
    assert data.count(b"\n") == 2
    assert b'"CN=a\\0Ab\\0Dc"' in data


def test_floats_are_written_without_exponent() -> None:
    rec = record(AWS_SUCCESS, typed=True)
    values = [0.00001, 4.036, 443.0, 0.0, 12.5]
    table = table_of([rec | {"tls_handshake_latency": v} for v in values])
    got = [x.split(" ")[6] for x in legacy_lines(table).to_pylist()]
    assert got == ["0.00001", "4.036", "443", "0", "12.5"]


def test_nested_values_are_refused_by_name() -> None:
    table = pa.table({"client_ip": [["1.2.3.4"]], "tls_verify_status": ["Success"]})
    with pytest.raises(VendedTypeError, match="client_ip"):
        legacy_lines(table)


def test_record_batches_and_chunked_tables_convert_alike() -> None:
    table = table_of([record(x) for x in LINES])
    chunked = pa.concat_tables([table.slice(0, 2), table.slice(2)])
    want = legacy_lines(table).to_pylist()
    assert legacy_lines(chunked).to_pylist() == want
    assert legacy_lines(table.to_batches()[0]).to_pylist() == want


def test_unreadable_line_holds_its_reason_on_one_line() -> None:
    got = unreadable_line("truncated JSON record", '{"time": "x",\n"a\x02')
    assert "\n" not in got and got.count("\x02") == 2
    assert got.split("\x02")[1] == "truncated JSON record"


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "time": st.one_of(st.none(), st.text(max_size=8)),
                "client_ip": st.one_of(st.none(), st.text(max_size=8)),
                "leaf_client_cert_subject": st.one_of(st.none(), st.text(max_size=12)),
                "tls_verify_status": st.one_of(st.none(), st.text(max_size=8)),
            },
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_values_give_one_line_per_record(rows: list[dict[str, str | None]]) -> None:
    table = table_of(rows) if any(rows) else pa.table({"x": [None] * len(rows)})
    data = legacy_bytes(table).decode()
    assert data.count("\n") == len(rows)
    assert "\r" not in data
    for row, got in zip(rows, data.split("\n"), strict=False):
        if row.get("tls_verify_status") in (None, "") and row.get("client_ip") in (None, ""):
            assert got == ""
        else:
            assert got != ""


@pytest.mark.parametrize("pure", [False, True])
def test_an_unreadable_line_is_a_malformed_line_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pure: bool
) -> None:
    if pure:
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    path = tmp_path / "conn_log_x.log"
    bad = unreadable_line("truncated JSON record", '{"time": "2023')
    path.write_text(f"{AWS_SUCCESS}\n{bad}\n\n{AWS_FAILED}\n", encoding="utf-8")
    with open_selection([str(path)]) as sel:
        rows = list(sel.iter_rows(Filters()))
        stats = sel.stats
    assert len(rows) == 2
    assert [(i.line, i.message) for i in stats.issues] == [(2, "truncated JSON record")]
