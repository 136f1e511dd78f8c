"""Parquet read from its columns (``scan_columns``) gives what its legacy lines give.

The compiled reader reads a Parquet file on disk from its Arrow columns, and writes as
lines only the rows it declines (``logs/vended/columnar.py``). Held here to the line path
(the same file read as the lines ``lines.py`` writes of it): the same certified rows with
the same fields and instants, the same declined lines with the same numbers, the same
folded counts and the same faults, on typed, null, dictionary-coded and odd values.
"""

from __future__ import annotations

import collections
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from mtls_doctor.logs.faults import FileFault
from mtls_doctor.logs.routing import EXPIRING, OTHER, Routing
from mtls_doctor.logs.sources import LogSource, as_read
from tests.diagnose.corpus import crafted_lines
from tests.logs.vended.test_parquet import damage_row_group, parquet, records, spied

_linescan = pytest.importorskip("mtls_doctor.logs._linescan")
pytest.importorskip("pyarrow")

from mtls_doctor.logs import native  # noqa: E402  (after the skips)
from mtls_doctor.logs.vended import columnar  # noqa: E402

ROUTINGS = [None, Routing(horizon=datetime(2024, 6, 1), fold=True)]
# The key the SQL groups expiring rows by (linescan_route.c): of each, the latest counts.
_LATEST_KEY = ("c2", "c8", "c9", "c10")


def _read(path: Path, routing: Routing | None) -> dict[str, Any]:
    faults: list[FileFault] = []
    source = as_read(LogSource(str(path), path, False, path.stat().st_size))
    reader = native.NativeReader([source], faults, workers=1, routing=routing)
    kinds: dict[str, list[tuple[Any, ...]]] = collections.defaultdict(list)
    for batch, kind in reader.pairs():
        for row in batch.to_pylist():
            row.pop("filename")
            kinds[kind].append(tuple(sorted(row.items(), key=lambda item: item[0])))
    if EXPIRING in kinds:  # one row per key per scan call: chunks differ, the latest not
        latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in kinds[EXPIRING]:
            values = dict(row)
            key = tuple(values[name] for name in _LATEST_KEY)
            if key not in latest or values["ts"] > dict(latest[key])["ts"]:
                latest[key] = row
        kinds[EXPIRING] = list(latest.values())
    folded = reader.folded().to_pylist()
    counts: dict[tuple[Any, ...], list[Any]] = {}
    for entry in folded:
        key = (entry["key"], entry["minute"])
        seen = counts.setdefault(key, [0, entry["first_seen"], entry["last_seen"]])
        seen[0] += entry["n"]
        seen[1], seen[2] = min(seen[1], entry["first_seen"]), max(seen[2], entry["last_seen"])
    return {
        "rows": {kind: sorted(rows, key=repr) for kind, rows in kinds.items()},
        "folded": counts,
        "faults": list(faults),
        "numbered": reader.numbered,
    }


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, routing: Routing | None) -> None:
    with monkeypatch.context() as patch:
        seen: list[Path] = []
        patch.setattr(columnar, "parquet_file", spied(columnar.parquet_file, seen))
        by_columns = _read(path, routing)
        assert seen, "the column path was not taken"
    with monkeypatch.context() as patch:
        patch.setattr(columnar, "parquet_file", lambda feed, stop: nullcontext())
        by_lines = _read(path, routing)
    assert by_columns == by_lines


@pytest.fixture(autouse=True)
def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several batches per row group: the verdicts kept from one batch serve the next.
    monkeypatch.setattr(columnar, "BATCH_ROWS", 7)


@pytest.mark.parametrize("routing", ROUTINGS, ids=["plain", "folded"])
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "strings"])
def test_crafted_rows_read_alike_from_columns_and_from_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: bool, routing: Routing | None
) -> None:
    path = parquet(tmp_path / "crafted.parquet", records(crafted_lines(), typed=typed))
    _both(path, monkeypatch, routing)


def test_other_integer_float_and_dictionary_types_and_a_timestamp_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    rows = records(crafted_lines())
    for index, row in enumerate(rows):
        row["client_port"] = None if index % 5 == 1 else row["client_port"]
    types = {
        "client_port": pa.int64(),
        "tls_handshake_latency": pa.float32(),
        "tls_verify_status": pa.dictionary(pa.int8(), pa.string()),
    }
    path = parquet(tmp_path / "typed.parquet", rows, types=types, rename={"time": "timestamp"})
    for routing in ROUTINGS:
        _both(path, monkeypatch, routing)


def test_a_bad_row_is_declined_and_numbered_by_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = records(crafted_lines()[:30])
    rows[3]["time"] = "2024-02-30T00:00:00Z"  # a date that does not exist
    rows[11]["leaf_client_cert_subject"] = 'CN="quoted" one'
    rows[17]["elb"] = "app/with space/1"
    rows[23]["client_ip"], rows[23]["tls_verify_status"] = None, ""  # not a connection record
    rows[25]["conn_trace_id"] = "TID\nsplit"
    path = parquet(tmp_path / "bad.parquet", rows)
    _both(path, monkeypatch, None)
    by_columns = _read(path, None)
    # Only the impossible date is malformed (line 4): the others, written as lines, are
    # certified by the line scanner, the elb with a space as a line of 16 fields.
    assert list(by_columns["numbered"][str(path)].values()) == [4]
    assert 16 in [dict(row)["nf"] for row in by_columns["rows"][OTHER]]


def test_a_missing_column_and_a_damaged_row_group_are_faults_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    rows = records(crafted_lines())
    for row in rows:
        row.pop("tls_verify_status")
    _both(parquet(tmp_path / "missing.parquet", rows), monkeypatch, None)
    path = parquet(tmp_path / "damaged.parquet", records(crafted_lines()), row_group=10)
    damage_row_group(path, 3, 1)
    _both(path, monkeypatch, None)
    assert "row group 3 of" in _read(path, None)["faults"][0].message


def test_scan_columns_refuses_columns_it_cannot_read_safely() -> None:
    import pyarrow as pa

    array = pa.array(["a", "b"], pa.string())
    _, offsets, data = array.buffers()
    good = (None, offsets, data, None, 0, 0, 0, None)
    with pytest.raises(ValueError):
        _linescan.scan_columns([good] * 14, 0, 2, 100)  # 14 columns
    with pytest.raises(ValueError):
        _linescan.scan_columns([good] * 15, 0, 3, 100)  # more rows than values
    codes = pa.array([0, 5], pa.int32()).buffers()[1]  # an index past the dictionary
    coded = (None, offsets, data, codes, 0, 0, 2, None)
    with pytest.raises(ValueError):
        _linescan.scan_columns([coded] * 15, 0, 2, 100)
    with pytest.raises(ValueError):  # verdicts too short for the dictionary
        short = bytearray(_linescan.verdicts_size(2) - 1)
        _linescan.scan_columns([(*coded[:7], short)] * 15, 0, 1, 100)
    scanned = _linescan.scan_columns([None] * 15, 0, 2, 100)  # no key field: no record
    assert (scanned[0], scanned[3], scanned[4]) == (0, 2, [])


_VALID = records(crafted_lines()[:40], typed=False)
_ODD = st.sampled_from(["", "-", " ", '"', "a b", "\n", "\r", "é", "\x01", "\\", "x" * 300])
_ANY = st.one_of(st.none(), _ODD, st.text(max_size=12))


def _row(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {**base, **changes}


# A row: a crafted one (most of them are certified) with up to three values changed, to an
# odd, an empty or any value, or to another row's value for the same field.
_ROWS = st.builds(
    _row,
    st.sampled_from(_VALID),
    st.dictionaries(
        st.sampled_from(VENDED_FIELD_NAMES),
        st.one_of(_ANY, st.sampled_from(_VALID).map(lambda row: row["client_ip"])),
        max_size=3,
    ),
)


_FIXTURES = [HealthCheck.function_scoped_fixture]


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURES)
@given(
    st.lists(_ROWS, min_size=1, max_size=25),
    st.booleans(),
    st.sampled_from(ROUTINGS),
)
def test_any_rows_read_alike_from_columns_and_from_lines(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[dict[str, Any]],
    coded: bool,
    routing: Routing | None,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("any") / "any.parquet"
    table = pa.table({n: pa.array([r[n] for r in rows], pa.string()) for n in VENDED_FIELD_NAMES})
    pq.write_table(table, path, row_group_size=9, use_dictionary=coded)
    _both(path, monkeypatch, routing)


_NUMBERS = {
    "client_port": st.one_of(st.none(), st.integers(0, 65535), st.integers(-(2**31), 2**31 - 1)),
    "listener_port": st.one_of(st.integers(0, 65535), st.integers(-(2**63), 2**63 - 1)),
    "tls_handshake_latency": st.one_of(
        st.none(),
        st.floats(),
        st.floats(0, 1e4),
        st.floats(1e8, 1e13),
        st.integers(0, 10**7).map(lambda n: n / 1000),  # milliseconds, as ALB writes them
        st.sampled_from([-0.0, 0.0, 1.5, 0.012, 12.0, 999999999.9999995, 5e-7, 1e-6]),
    ),
}


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURES)
@given(
    st.lists(st.tuples(st.sampled_from(_VALID), st.fixed_dictionaries(_NUMBERS)), max_size=20),
    st.sampled_from(ROUTINGS),
)
def test_numbers_read_alike_from_columns_and_from_lines(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[dict[str, Any], dict[str, Any]]],
    routing: Routing | None,
) -> None:
    """Ports (int32, int64) and latencies (double) are written as text by the scanner."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"client_port": pa.int32(), "listener_port": pa.int64()}
    kinds["tls_handshake_latency"] = pa.float64()
    merged = [{**base, **numbers} for base, numbers in rows]
    table = pa.table(
        {n: pa.array([r[n] for r in merged], kinds.get(n, pa.string())) for n in VENDED_FIELD_NAMES}
    )
    path = tmp_path_factory.mktemp("numbers") / "numbers.parquet"
    pq.write_table(table, path, row_group_size=8)
    _both(path, monkeypatch, routing)
