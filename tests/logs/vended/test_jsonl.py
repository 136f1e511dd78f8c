"""JSON lines: the C converter, pyarrow's reader and the record-by-record way write the same
legacy line for any record (a differential test), and skip nothing that is a line."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from mtls_doctor.logs.vended import jsonl

try:
    from mtls_doctor.logs.vended import _jsonlines
except ImportError:  # pragma: no cover - built where a C compiler was present
    _jsonlines = None  # type: ignore[assignment]

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
compiled = pytest.mark.skipif(_jsonlines is None, reason="the C converter was not built")

values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["-", "", 'CN=a \\"b\\"', "a\nb", "é", "\x01", "CN=x,O=y z"]),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda v: abs(v) < 1e11),
    st.decimals(-(10**9), 10**9, places=7, allow_nan=False, allow_infinity=False).map(float),
    st.booleans(),
)
keys = st.sampled_from([*VENDED_FIELD_NAMES, "timestamp", "type", "other"])
records = st.dictionaries(keys, values, max_size=10)
odd_lines = st.one_of(
    st.sampled_from(["", "   ", "{", "[1]", '{"time": "x",}', '{"time": {"a": 1}}', "null"]),
    st.text(max_size=20),
)


def _json(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False)


@compiled
@FAST
@given(st.lists(st.one_of(records.map(_json), odd_lines), min_size=1, max_size=8))
def test_the_c_converter_writes_what_python_writes(lines: list[str]) -> None:
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    block = ("\n".join(lines) + "\n").encode()
    want = jsonl.by_record(block)
    assert jsonl.legacy_block(block) == want
    assert want.count(b"\n") == len(lines)


@FAST
@given(st.lists(records, min_size=1, max_size=8))
def test_pyarrow_writes_what_python_writes_for_well_typed_columns(
    rows: list[dict[str, object]],
) -> None:
    # pyarrow takes a column's type from its values: one type a column, as AWS would write.
    for name in {k for row in rows for k in row}:
        kinds = {type(row[name]) for row in rows if row.get(name) is not None}
        if len(kinds) > 1 or (kinds & {int, float} and name in ("time", "timestamp")):
            for row in rows:
                row.pop(name, None)
    block = "".join(_json(row) + "\n" for row in rows).encode()
    assert jsonl.arrow_block(block) == jsonl.by_record(block)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"time": 1712318400.5, "tls_verify_status": "Success"}, "2024-04-05T12:00:00.500000Z"),
        ({"timestamp": 1712318400500, "tls_verify_status": "x"}, "2024-04-05T12:00:00.500000Z"),
        ({"time": None, "timestamp": "b", "client_ip": "1"}, "b"),
        ({"timestamp": "b", "time": "a", "client_ip": "1"}, "a"),
        ({"timestamp": "b", "time": "", "client_ip": "1"}, "b"),
        ({"time": "", "timestamp": "b", "client_ip": "1"}, "b"),
    ],
)
def test_times_as_numbers_and_the_synonym(record: dict[str, object], field: str) -> None:
    block = (_json(record) + "\n").encode()
    for convert in (jsonl.legacy_block, jsonl.arrow_block, jsonl.by_record):
        assert convert(block).split(b" ")[0].decode() == field
