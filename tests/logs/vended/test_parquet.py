"""Parquet connection logs (vended delivery, spec §2): read as the legacy lines of the same
connections, whichever reader runs; bad files are one-line faults, bad rows malformed lines."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from mtls_doctor.logs.vended.detect import split_plain
from tests.diagnose.corpus import NOW, crafted_lines, write_corpus

FIELDS = VENDED_FIELD_NAMES
INTEGERS = {"client_port", "listener_port"}


def records(lines: list[str], *, typed: bool = True) -> list[dict[str, Any]]:
    """The vended records of legacy lines: the subject without its quotes; with ``typed``,
    numbers for ports and latency and null for an empty value, else strings and ``-``."""
    out = []
    for line in lines:
        values = split_plain(line, " ")
        record: dict[str, Any] = {}
        for name, value in zip(FIELDS, values, strict=True):
            if not typed:
                record[name] = value
            elif value == "-":
                record[name] = None
            elif name in INTEGERS:
                record[name] = int(value)
            elif name == "tls_handshake_latency":
                record[name] = float(value)
            else:
                record[name] = value
        out.append(record)
    return out


def parquet(
    path: Path,
    rows: list[dict[str, Any]],
    *,
    row_group: int = 10,
    types: dict[str, Any] | None = None,
    rename: dict[str, str] | None = None,
) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [n for n in FIELDS if not rows or n in rows[0]]
    kinds = {n: pa.string() for n in names}
    if rows and isinstance(rows[0].get("client_port"), int):
        kinds.update(client_port=pa.int32(), listener_port=pa.int32())
        kinds["tls_handshake_latency"] = pa.float64()
    kinds.update(types or {})
    columns = {n: pa.array([r.get(n) for r in rows], kinds[n]) for n in names}
    table = pa.table({(rename or {}).get(n, n): c for n, c in columns.items()})
    pq.write_table(table, path, row_group_size=row_group)
    return path


def damage_row_group(path: Path, group: int, column: int) -> Path:
    """Overwrite one column chunk of row group ``group`` of ``path`` with bytes that do not
    decode: that group cannot be read, the ones before it can."""
    import pyarrow.parquet as pq

    chunk = pq.ParquetFile(path).metadata.row_group(group).column(column)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    path.write_bytes(bytes(data))
    return path


def spied(real: Any, seen: list[Path]) -> Any:
    """``columnar.parquet_file`` (``real``), noting each file it hands to the column path."""

    @contextmanager
    def spy(feed: object, stop: threading.Event) -> Iterator[Path | None]:
        with real(feed, stop) as found:
            if found is not None:
                seen.append(found)
            yield found

    return spy


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def counts(*paths: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    result = invoke(
        "logs",
        "query",
        *map(str, paths),
        "--count-by",
        "tls_verify_status",
        "--format",
        "json",
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    return {row["tls_verify_status"]: row["count"] for row in json.loads(result.stdout)}


def rows(path: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = invoke("logs", "query", str(path), "--format", "json", env=env)
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    for row in found:
        row.pop("source_file")
    return sorted(found, key=lambda r: (r["timestamp"], r["client_ip"]))


def diagnosis(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = invoke("diagnose", str(path), "--format", "json", "--at", at, env=env)
    assert result.exit_code == 1, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "legacy")


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_parquet_reads_as_the_legacy_file_of_the_same_connections(
    tmp_path: Path, legacy: Path, pure: bool
) -> None:
    env = {"MTLS_DOCTOR_PURE": "1"} if pure else {}
    typed = parquet(tmp_path / "typed.parquet", records(crafted_lines()))
    assert counts(typed, env=env) == counts(legacy, env=env)
    assert rows(typed, env=env) == rows(legacy, env=env)
    assert diagnosis(typed, env=env) == diagnosis(legacy, env=env)
    # Near miss: one connection less is not the same diagnosis.
    fewer = parquet(tmp_path / "fewer.parquet", records(crafted_lines()[1:]))
    assert diagnosis(fewer, env=env) != diagnosis(legacy, env=env)


def test_string_values_a_timestamp_column_and_a_time_typed_column(
    tmp_path: Path, legacy: Path
) -> None:
    import pyarrow as pa

    strings = parquet(tmp_path / "strings.parquet", records(crafted_lines(), typed=False))
    renamed = parquet(
        tmp_path / "renamed.parquet",
        records(crafted_lines()),
        rename={"time": "timestamp"},
    )
    stamped = records(crafted_lines())
    from datetime import datetime

    for record in stamped:
        record["time"] = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    typed_time = parquet(
        tmp_path / "stamped.parquet", stamped, types={"time": pa.timestamp("us", "UTC")}
    )
    epoch = records(crafted_lines())
    for record in epoch:  # milliseconds since the epoch, as an integer column
        at = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        record["time"] = int(at.timestamp() * 1000) if at.microsecond % 1000 == 0 else None
    epoch_ms = parquet(tmp_path / "epoch.parquet", epoch, types={"time": pa.int64()})
    dictionary = pa.dictionary(pa.int32(), pa.string())
    encoded = parquet(
        tmp_path / "dictionary.parquet",
        records(crafted_lines()),
        types={"tls_verify_status": dictionary, "leaf_client_cert_subject": dictionary},
    )
    expected = rows(legacy)
    assert all(record["time"] is not None for record in epoch)  # the corpus has whole ms
    for path in (strings, renamed, typed_time, epoch_ms, encoded):
        assert rows(path) == expected, path.name


def test_a_folder_reads_parquet_whatever_its_name(tmp_path: Path, legacy: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    parquet(folder / "part-0000.snappy", records(crafted_lines()[:40]))
    parquet(folder / "part-0001.snappy", records(crafted_lines()[40:]))
    assert counts(folder) == counts(legacy)
    globbed = invoke("logs", "query", str(folder / "part-*"), "--count-by", "tls_verify_status")
    assert globbed.exit_code == 0 and "Failed:ClientCertExpired" in globbed.stdout


def test_a_missing_required_column_is_a_file_fault_naming_it(tmp_path: Path, legacy: Path) -> None:
    lines = crafted_lines()
    rows_without = [
        {k: v for k, v in r.items() if k != "tls_verify_status"} for r in records(lines)
    ]
    broken = parquet(tmp_path / "no-status.parquet", rows_without)
    alone = invoke("logs", "query", str(broken), "--count-by", "tls_verify_status")
    assert alone.exit_code == 3, alone.stderr
    assert "no-status.parquet" in alone.stderr and "tls_verify_status" in alone.stderr
    assert "Traceback" not in alone.stderr
    # The other inputs are still read, and the fault is named once, on one line.
    both = invoke(
        "logs",
        "query",
        str(broken),
        str(legacy),
        "--count-by",
        "tls_verify_status",
        "--format",
        "json",
    )
    assert sum(r["count"] for r in json.loads(both.stdout)) == len(lines)
    named = [line for line in both.stderr.splitlines() if "no-status.parquet" in line]
    assert len(named) == 1 and "tls_verify_status" in named[0], both.stderr
    # Near miss: an optional field left out (a delivery's recordFields) is just empty.
    no_kx = [{k: v for k, v in r.items() if k != "tls_keyexchange"} for r in records(lines)]
    fine = parquet(tmp_path / "no-kx.parquet", no_kx)
    assert counts(fine) == counts(legacy)


def test_a_corrupted_or_empty_file_is_a_file_fault(tmp_path: Path, legacy: Path) -> None:
    good = parquet(tmp_path / "good.parquet", records(crafted_lines()), row_group=20)
    data = good.read_bytes()
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(data[: len(data) // 2] + b"\x00" * 64 + b"PAR1")
    empty = parquet(tmp_path / "empty.parquet", [])
    nothing = tmp_path / "nothing.parquet"  # a download that stopped before its first byte
    nothing.write_bytes(b"")
    for path in (corrupt, empty, nothing):
        alone = invoke("logs", "query", str(path), "--count-by", "tls_verify_status")
        assert alone.exit_code == 3, (path.name, alone.stderr)
        assert path.name in alone.stderr and "Traceback" not in alone.stderr
    with_legacy = invoke(
        "logs",
        "query",
        str(corrupt),
        str(legacy),
        "--count-by",
        "tls_verify_status",
        "--format",
        "json",
    )
    assert with_legacy.exit_code == 0, with_legacy.stderr
    assert sum(r["count"] for r in json.loads(with_legacy.stdout)) == len(crafted_lines())
    assert "corrupt.parquet" in with_legacy.stderr


def test_a_bad_row_is_a_malformed_line_numbered_by_its_row(tmp_path: Path) -> None:
    found = records(crafted_lines(), typed=False)
    found[13]["time"] = "yesterday"  # row 3 of row group 1 (10 rows a group): line 14
    bad = parquet(tmp_path / "bad-row.parquet", found)
    result = invoke("logs", "query", str(bad), "--count-by", "tls_verify_status")
    assert result.exit_code == 0, result.stderr
    assert "bad-row.parquet:14" in result.stderr, result.stderr
    # Near miss: the other rows are all counted.
    table = invoke("logs", "query", str(bad), "--count-by", "tls_verify_status", "--format", "json")
    assert sum(r["count"] for r in json.loads(table.stdout)) == len(found) - 1


def test_a_nested_column_is_a_file_fault(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "time": ["2024-04-05T12:00:00.000000Z"],
            "tls_verify_status": [["Success"]],
        }
    )
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    result = invoke("logs", "query", str(path))
    assert result.exit_code == 3 and "nested.parquet" in result.stderr
    assert "tls_verify_status" in result.stderr and "Traceback" not in result.stderr


def test_parquet_from_stdin_is_spooled(tmp_path: Path, legacy: Path) -> None:
    buffer = io.BytesIO()
    path = parquet(tmp_path / "in.parquet", records(crafted_lines()))
    buffer.write(path.read_bytes())
    result = CliRunner().invoke(
        cli,
        ["logs", "query", "-", "--count-by", "tls_verify_status", "--format", "json"],
        input=buffer.getvalue(),
    )
    assert result.exit_code == 0, result.stderr
    got = {row["tls_verify_status"]: row["count"] for row in json.loads(result.stdout)}
    assert got == counts(legacy)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(), st.floats(-1e4, 1e4)), max_size=40))
def test_typed_latencies_read_alike_by_the_fast_and_the_exact_path(values: list[Any]) -> None:
    """Parquet latencies are doubles: most are written by their shortest text (fast path),
    which must always equal the exact six-decimal arithmetic."""
    import pyarrow as pa

    from mtls_doctor.logs.vended.lines import _float_arithmetic, _float_text

    column = pa.array(values, pa.float64())
    assert _float_text(column).to_pylist() == _float_arithmetic(column).to_pylist()


def test_ingest_stores_parquet_once_and_queries_like_legacy(tmp_path: Path, legacy: Path) -> None:
    (tmp_path / "in").mkdir()
    path = parquet(tmp_path / "in" / "part-0.parquet", records(crafted_lines()))
    db = str(tmp_path / "store.duckdb")
    first = invoke("ingest", str(path.parent), "--db", db, "--format", "json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["added_files"] == 1
    stored = invoke(
        "logs", "query", "--db", db, "--count-by", "tls_verify_status", "--format", "json"
    )
    got = {row["tls_verify_status"]: row["count"] for row in json.loads(stored.stdout)}
    assert got == counts(legacy)
    # Near miss: the same file again adds nothing (known by the hash of its own bytes).
    again = invoke("ingest", str(path.parent), "--db", db, "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["added_files"] == 0


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_a_damaged_row_group_keeps_the_rows_before_it(tmp_path: Path, pure: bool) -> None:

    path = parquet(tmp_path / "damaged.parquet", records(crafted_lines()), row_group=10)
    damage_row_group(path, 5, 0)
    env = {"MTLS_DOCTOR_PURE": "1"} if pure else {}
    result = invoke(
        "logs", "query", str(path), "--count-by", "tls_verify_status", "--format", "json", env=env
    )
    assert result.exit_code == 0, result.stderr
    assert sum(r["count"] for r in json.loads(result.stdout)) == 50  # row groups 0 to 4
    named = [line for line in result.stderr.splitlines() if "damaged.parquet" in line]
    assert len(named) == 1 and "row group 5 of 9, from line 51 on" in named[0], result.stderr
    assert "read 50 lines before the fault" in named[0]
