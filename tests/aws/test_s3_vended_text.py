"""Vended JSON objects in S3, told by their content: read as they download (compiled reader)
or fetched first (pure reader), they store what the same legacy lines store."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.logs.ingest import run_sql
from tests.aws.albdata import BUCKET, key_for, lines_for, put
from tests.aws.test_s3_cli import run
from tests.logs.vended.records import json_lines


def _ingest(source: str, db: Path, cache: Path) -> Any:
    return run("ingest", source, "--db", str(db), "--format", "json", "--cache-dir", str(cache))


def _connections(db: Path) -> list[tuple[Any, ...]]:
    return run_sql(db, "SELECT * EXCLUDE (file_id) FROM connections ORDER BY ALL")[1]


@pytest.mark.parametrize("reader", ["compiled", "pure"])
def test_json_objects_store_what_their_legacy_lines_store(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    if reader == "pure":
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    mirror = tmp_path / "mirror"
    s3.create_bucket(Bucket=BUCKET)
    lines = lines_for("20240502T1005Z", 40, 3).decode().splitlines()
    key = key_for("20240502T1005Z")  # a legacy key: the listing of vended keys is not here
    legacy_key = key.replace("web-logs/", "legacy/")
    cut = json_lines(lines, typed=True, drop_empty=True)
    cut = cut[: cut.rindex('"tls_verify_status"')]  # the last record cut short
    put(s3, BUCKET, key, gzip.compress(cut.encode(), mtime=0), mirror)
    put(s3, BUCKET, legacy_key, gzip.compress("\n".join(lines[:-1]).encode() + b"\n"), mirror)
    vended_db, legacy_db = tmp_path / "v.duckdb", tmp_path / "l.duckdb"
    result = _ingest(f"s3://{BUCKET}/web-logs", vended_db, tmp_path / "c")
    assert result.exit_code == 0, result.stderr
    assert "truncated JSON record" in result.stderr and f":{len(lines)}" in result.stderr
    assert _ingest(f"s3://{BUCKET}/legacy", legacy_db, tmp_path / "c2").exit_code == 0
    assert _connections(vended_db) == _connections(legacy_db)
    assert len(_connections(vended_db)) == len(lines) - 1
    # Again: the object's content is stored already, so nothing is added.
    again = _ingest(f"s3://{BUCKET}/web-logs", vended_db, tmp_path / "c")
    assert again.exit_code == 0 and len(_connections(vended_db)) == len(lines) - 1
