"""A Parquet object in S3 is read from its columns (``logs/vended/columnar.py``), as a
Parquet file on disk is: fetched to the cache first (``logs query``, ``diagnose``, and an
object told by its content), or read as it downloads (``ingest`` of an object with a legacy
name: spooled to a temporary file, since its footer comes last). Against the moto server,
with the line conversion made to fail: the results, the malformed rows and their numbers,
the faults (named by the object's URL), the stored hash and the cache are those of the same
file read from disk."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.logs import native
from mtls_doctor.logs.ingest import run_sql
from tests.aws.albdata import ACCOUNT
from tests.aws.test_s3_cli import run
from tests.aws.vendeddata import BUCKET, write
from tests.diagnose.corpus import crafted_lines
from tests.logs.vended.test_parquet import damage_row_group, parquet, records, spied

pytestmark = pytest.mark.skipif(not native.available(), reason="the compiled reader's path")

KEY = (
    f"p/AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2026/09/10/conn_log_{ACCOUNT}_"
    f"elasticloadbalancing_us-east-1_app.web.1234567890abcdef_20260910T1100Z_10.0.0.5_ab.log"
)
URL = f"s3://{BUCKET}/{KEY}"


@pytest.fixture
def by_columns(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files the column path read; reading Parquet as legacy lines fails the run."""
    from mtls_doctor.logs.vended import columnar
    from mtls_doctor.logs.vended import parquet as module

    def refuse(handle: Any) -> Iterator[bytes]:
        raise AssertionError("a Parquet file was read as legacy lines")

    monkeypatch.setattr(module, "legacy_pieces", refuse)
    seen: list[Path] = []
    monkeypatch.setattr(columnar, "parquet_file", spied(columnar.parquet_file, seen))
    return seen


def _bad_rows(tmp_path: Path) -> Path:
    rows = records(crafted_lines(), typed=False)
    rows[13]["time"] = "yesterday"  # row 3 of row group 1 (10 rows a group): line 14
    return parquet(tmp_path / "local" / "bad-row.parquet", rows)


def _damaged(tmp_path: Path) -> Path:
    path = parquet(tmp_path / "local" / "damaged.parquet", records(crafted_lines()))
    return damage_row_group(path, 5, 0)


def _ingest(source: str, db: Path, cache: Path) -> dict[str, Any]:
    """The ingest's JSON report, with its exit code (3 when a file ended in a fault)."""
    result = run("ingest", source, "--db", str(db), "--format", "json", "--cache-dir", str(cache))
    assert result.exit_code in (0, 3), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    for name in ("db", "inputs"):
        data.pop(name)
    return {**data, "exit_code": result.exit_code}


def _named(data: Any, name: str, url: str) -> Any:
    return json.loads(json.dumps(data).replace(name, url))


@pytest.mark.parametrize("make", [_bad_rows, _damaged], ids=["bad-row", "damaged"])
def test_a_parquet_download_is_spooled_then_read_from_its_columns(
    s3: Any, tmp_path: Path, by_columns: list[Path], make: Any
) -> None:
    (tmp_path / "local").mkdir()
    local = make(tmp_path)
    data = local.read_bytes()
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=data)
    cache = tmp_path / "cache"
    remote = _ingest(f"s3://{BUCKET}/p", tmp_path / "remote.duckdb", cache)
    assert by_columns and all(str(path).startswith("/proc/self/fd/") for path in by_columns)
    by_columns.clear()
    direct = _ingest(str(local), tmp_path / "local.duckdb", cache)
    assert by_columns == [local]
    assert remote == _named(direct, str(local), URL)
    if make is _bad_rows:
        assert remote["exit_code"] == 0
        assert remote["errors"][0]["file"] == URL and remote["errors"][0]["line"] == 14
    else:
        fault = remote["faults"][0]
        assert fault["file"] == URL and "row group 5 of 9, from line 51 on" in fault["message"]
        assert remote["added_rows"] == 50  # the row groups before the damaged one
        assert remote["exit_code"] == 3
    rows = "SELECT * EXCLUDE (file_id) FROM connections ORDER BY ALL"
    assert run_sql(tmp_path / "remote.duckdb", rows) == run_sql(tmp_path / "local.duckdb", rows)
    # The hash of the object's own bytes as they arrived, and the cache, as for any download.
    stored = run_sql(tmp_path / "remote.duckdb", "SELECT source, sha256 FROM files")[1]
    assert stored == [(URL, hashlib.sha256(data).hexdigest())]
    assert (cache / BUCKET / KEY).read_bytes() == data


def test_query_and_diagnose_of_a_vended_delivery_read_the_columns_of_its_objects(
    s3: Any, tmp_path: Path, by_columns: list[Path]
) -> None:
    layout = write(tmp_path / "mirror", s3)
    local, remote = str(layout.root / "v2"), f"s3://{BUCKET}/v2"
    count = ["logs", "query", "--count-by", "tls_verify_status", "--format", "json"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    counted = run(*count, remote, *cache)
    assert counted.exit_code == 0, counted.stderr
    assert len(by_columns) == 5  # the five connection logs, from the cache
    assert json.loads(counted.stdout) == json.loads(run(*count, local).stdout)
    diagnose = ["diagnose", "--format", "json", "--at", "2026-09-12T00:00:00Z"]
    found = run(*diagnose, remote, *cache)
    assert found.exit_code in (0, 1), found.stderr
    expected = run(*diagnose, local).stdout.replace(local, remote)
    assert json.loads(found.stdout) == json.loads(expected)


class _Download:
    """A feed's stream as ``s3stream`` gives it: read, then let go (its slot freed)."""

    sha256 = failure = error = None

    def __init__(self, data: bytes) -> None:
        self.data, self.opened, self.let_go = data, 0, 0

    def open(self) -> Any:
        import io

        self.opened += 1
        body, download = io.BytesIO(self.data), self

        class Stream:
            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                download.let_go += 1

            def read(self, size: int = -1) -> bytes:
                return body.read(size)

        return Stream()

    def close(self) -> None:
        return None


def test_the_spool_holds_the_whole_download_and_is_gone_after(tmp_path: Path) -> None:
    from mtls_doctor.logs.vended.feed import SniffingFeed

    data = parquet(tmp_path / "p.parquet", records(crafted_lines())).read_bytes()
    download = _Download(data)
    with SniffingFeed(download).spooled(threading.Event()) as name:
        assert name is not None and name.read_bytes() == data
        assert download.let_go == 0  # held while the columns are read
    assert download.opened == 1 and download.let_go == 1
    assert not name.exists()  # the spool was closed: nothing of it is left
    # Stopped (Ctrl-C) while spooling: the download is let go all the same.
    stop = threading.Event()
    stop.set()
    with pytest.raises(KeyboardInterrupt), SniffingFeed(download).spooled(stop):
        raise KeyboardInterrupt
    assert download.let_go == 2


def test_a_download_of_another_format_is_read_by_open_after_its_sniff() -> None:
    import gzip

    from mtls_doctor.logs.vended.feed import SniffingFeed

    data = gzip.compress("".join(line + "\n" for line in crafted_lines()).encode())
    download = _Download(data)
    feed = SniffingFeed(download)
    with feed.spooled(threading.Event()) as name:
        assert name is None
        with feed.open() as stream:  # the sniffed stream, with its head put back
            assert stream.read() == data
    assert download.opened == 1 and download.let_go == 1
    # Near miss: sniffed but never opened (stopped before): let go when the block ends.
    with SniffingFeed(download).spooled(threading.Event()) as name:
        assert name is None
    assert download.opened == 2 and download.let_go == 2


def test_without_names_for_open_files_the_spool_is_named_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from mtls_doctor.logs.vended import feed

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with feed._spool(tmp_path / "no-such-folder") as (handle, name):
        handle.write(b"spooled")
        handle.flush()
        assert name.parent == tmp_path and name.read_bytes() == b"spooled"
    assert list(tmp_path.iterdir()) == []
