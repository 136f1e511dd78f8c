"""Every vended format, through ``logs query`` and ``diagnose``, gives what the legacy lines
give: compiled and pure readers, named as vended objects (not conn_log_...), in a folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.corpus import crafted_lines
from tests.logs.vended.records import write_format

FORMATS = [
    "json",
    "json-typed.gz",
    "json-missing.gz",
    "tab",
    "comma.gz",
    "w3c",
    "w3c-tab.gz",
    "w3c-comma",
    "legacy",  # plain with spaces, under a vended name: read by its content
]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _legacy(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "conn_log_123456789012_app.demo_20240405T1200Z_10.0.0.5_abc.log.gz"
    path.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode()))
    return folder


def _without_files(value: Any) -> Any:
    """The result with what names the files removed: the rest must match."""
    if isinstance(value, dict):
        return {
            k: _without_files(v)
            for k, v in value.items()
            if k not in {"source_file", "file", "files", "inputs", "elapsed_seconds"}
        }
    if isinstance(value, list):
        return [_without_files(v) for v in value]
    return value


@pytest.fixture(params=["compiled", "pure"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pure":
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    return str(request.param)


@pytest.mark.parametrize("fmt", FORMATS)
def test_logs_query_reads_each_format_as_the_legacy_lines(
    tmp_path: Path, reader: str, fmt: str
) -> None:
    lines = crafted_lines()
    legacy = _legacy(tmp_path / "legacy", lines)
    write_format(tmp_path / "vended", lines, fmt)
    results = []
    for folder in (legacy, tmp_path / "vended"):
        code, out, err = invoke("logs", "query", str(folder), "--format", "json")
        assert code == 0, err
        results.append(_without_files(json.loads(out)))
    assert results[0] == results[1]
    assert len(results[0]) == len(lines)


@pytest.mark.parametrize("fmt", ["json-missing.gz", "w3c-comma", "tab"])
def test_diagnose_of_each_format_is_the_legacy_diagnosis(
    tmp_path: Path, reader: str, fmt: str
) -> None:
    lines = crafted_lines()
    legacy = _legacy(tmp_path / "legacy", lines)
    vended = write_format(tmp_path / "vended", lines, fmt)
    results = []
    for path in (legacy, vended):
        code, out, err = invoke(
            "diagnose", str(path), "--format", "json", "--at", "2024-04-06T00:00:00Z"
        )
        assert code == 1, err
        results.append(_without_files(json.loads(out)))
    assert results[0] == results[1]


def test_count_by_status_of_a_json_gz_file_named_anything(tmp_path: Path, reader: str) -> None:
    path = write_format(tmp_path, crafted_lines(), "json-typed.gz", "export.bin")
    code, out, err = invoke("logs", "query", str(path), "--count-by", "tls_verify_status")
    assert code == 0, err
    assert "Success" in out and "Failed:ClientCertExpired" in out


def test_stdin_and_globs_are_read_by_content(tmp_path: Path, reader: str) -> None:
    lines = crafted_lines()
    path = write_format(tmp_path / "in", lines, "json-missing.gz", "records")
    write_format(tmp_path / "in", lines[:3], "json", "other")
    (tmp_path / "in" / "notes.txt").write_text("not a log\n")
    piped = CliRunner().invoke(
        cli, ["logs", "query", "-", "--format", "json"], input=path.read_bytes()
    )
    assert piped.exit_code == 0, piped.stderr
    assert len(json.loads(piped.stdout)) == len(lines)
    code, out, err = invoke("logs", "query", str(tmp_path / "in" / "*"), "--format", "json")
    assert code == 0, err
    assert len(json.loads(out)) == len(lines) + 3
    assert "notes.txt" in err  # read neither by name nor by content: named once


def test_ingest_stores_a_vended_file_once_by_the_hash_of_its_bytes(
    tmp_path: Path, reader: str
) -> None:
    import hashlib

    from mtls_doctor.logs.ingest import run_sql

    lines = crafted_lines()
    path = write_format(tmp_path / "in", lines, "json-typed.gz")
    db = tmp_path / "s.duckdb"
    for added in (len(lines), 0):
        code, out, err = invoke("ingest", str(path), "--db", str(db), "--format", "json")
        assert code == 0, err
        assert json.loads(out)["added_rows"] == added
    files = run_sql(db, "SELECT sha256, rows FROM files")[1]
    assert files == [(hashlib.sha256(path.read_bytes()).hexdigest(), len(lines))]
