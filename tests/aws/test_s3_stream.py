"""``ingest s3://...`` reads each object as it downloads, against the moto server: hashed,
inflated and scanned in the same pass, written to the cache on the way and never read back,
with the same store as an ingest of the same files from a local folder."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.logs import native
from mtls_doctor.logs.ingest import run_sql
from tests.aws.albdata import BUCKET, STRAY, key_for, lines_for, populate, put
from tests.aws.conftest import Hook
from tests.aws.test_s3_cli import get_calls, run

pytestmark = pytest.mark.skipif(not native.available(), reason="streams with the compiled reader")

STRAY_BODY = b"not a connection log\n"  # albdata.populate
_WATCHED: list[tuple[Path, list[str]]] = []  # (folder, opens for reading under it)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHED or not isinstance(args[0], str | Path):
        return
    path, mode, flags = str(args[0]), args[1], args[2]
    reading = (mode is not None and ("r" in mode or "+" in mode)) or (
        mode is None and isinstance(flags, int) and flags & os.O_ACCMODE != os.O_WRONLY
    )
    for folder, seen in _WATCHED:
        if reading and path.startswith(str(folder)) and not os.path.isdir(path):
            seen.append(path)


sys.addaudithook(_audit)  # cannot be removed: it records only while a test watches


@pytest.fixture
def cache_reads(tmp_path: Path) -> Iterator[list[str]]:
    """Every file of the cache folder (``tmp_path / "c"``) opened for reading meanwhile."""
    seen: list[str] = []
    _WATCHED.append((tmp_path / "c", seen))
    yield seen
    _WATCHED.clear()


def ingest(source: str, db: Path, cache: Path) -> Any:
    return run("ingest", source, "--db", str(db), "--format", "json", "--cache-dir", str(cache))


def _odd_objects(s3: Any, mirror: Path) -> dict[str, str]:
    """Objects that are not plain good logs: malformed lines, a cut gzip, plain text."""
    malformed, cut, plain = (
        key_for(e) for e in ("20240502T1005Z", "20240502T1300Z", "20240501T2355Z")
    )
    lines = lines_for("20240502T1005Z", 6, 3).splitlines(keepends=True)
    # A fed object is numbered as it is read: by each line as the parser reports it (trimmed
    # of trailing spaces, marked when it held a U+0001), not as it was in the object.
    odd = [b"not a log line\n", b"h2 1 2   \n", b"h2 3\x01tail  \n"]
    bad = b"".join([*lines[:2], odd[0], *lines[2:4], odd[1], *lines[4:5], odd[2], *lines[5:]])
    put(s3, BUCKET, malformed, gzip.compress(bad, mtime=0), mirror)
    whole = gzip.compress(lines_for("20240502T1300Z", 400, 5), mtime=0)
    put(s3, BUCKET, cut, whole[: len(whole) // 2], mirror)
    put(s3, BUCKET, plain, lines_for("20240501T2355Z", 5, 7), mirror)
    return {"malformed": malformed, "cut": cut, "plain": plain}


def _store(db: Path) -> dict[str, Any]:
    """The store's content with each file named by its key's last part (not its location)."""
    name = "regexp_extract(f.source, '[^/]+$')"
    queries = {
        "connections": "SELECT * EXCLUDE (file_id) FROM connections ORDER BY ALL",
        "files": f"SELECT {name}, size, sha256, rows, malformed, extra_field_lines, "
        "unknown_code_lines, first_seen, last_seen, fault FROM files f ORDER BY 1",
        "errors": f"SELECT {name}, e.line_no, e.reason, e.line FROM parse_errors e "
        "JOIN files f USING (file_id) ORDER BY ALL",
    }
    return {key: run_sql(db, sql)[1] for key, sql in queries.items()}


def test_an_s3_ingest_reads_each_object_once_as_it_downloads(
    s3: Any, tmp_path: Path, cache_reads: list[str]
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    cache = tmp_path / "c"
    result = ingest(f"s3://{BUCKET}/web-logs", tmp_path / "s.duckdb", cache)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added_files"] == 9
    # Written to the cache on the way (for `logs query`), whole, and never read back; but for
    # notes.txt, an object of another name in a delivery layout, which is fetched first to be
    # told apart by content (vended object names are UNCONFIRMED) and is then not read.
    cached = [p for p in cache.rglob("*") if p.is_file()]
    notes = [p for p in cached if p.name == "notes.txt"]
    assert len(cached) == 10 and cache_reads == [str(p) for p in notes] and len(notes) == 1
    cache_reads.clear()
    cached.remove(notes[0])
    for path in cached:
        key = str(path.relative_to(cache / BUCKET))
        assert path.read_bytes() == layout.local(key).read_bytes()
    # Near miss: a `logs query` of the same prefix reads the cache, and the watch sees it.
    assert run("logs", "query", f"s3://{BUCKET}/web-logs", "--cache-dir", str(cache)).exit_code == 0
    assert len(cache_reads) >= 9


def test_an_s3_ingest_stores_what_a_local_ingest_of_the_same_files_stores(
    s3: Any, tmp_path: Path, cache_reads: list[str]
) -> None:
    mirror = tmp_path / "mirror"
    populate(s3, mirror)
    odd = _odd_objects(s3, mirror)
    remote, local = tmp_path / "s3.duckdb", tmp_path / "local.duckdb"
    by_s3 = ingest(f"s3://{BUCKET}/web-logs", remote, tmp_path / "c")
    by_file = ingest(str(mirror / "web-logs"), local, tmp_path / "unused")
    assert by_s3.exit_code == by_file.exit_code == 3, by_s3.stderr
    assert [Path(p).name for p in cache_reads] == ["notes.txt"]  # told apart by content
    s3_store, local_store = _store(remote), _store(local)
    assert s3_store == local_store
    errors = [(line, reason) for name, line, reason, _ in s3_store["errors"]]
    assert [line for line, _ in errors] == [3, 6, 8], errors
    cut = odd["cut"].rsplit("/", 1)[-1]
    assert f"s3://{BUCKET}/{odd['cut']}: truncated gzip stream" in by_s3.stderr
    assert next(f for f in s3_store["files"] if f[0] == cut)[-1] is not None
    summary, reference = json.loads(by_s3.stdout), json.loads(by_file.stdout)
    for field in (
        "added_rows",
        "added_files",
        "inputs",
        "inputs_read",
        "malformed_lines",
        "errors",
        "faults",
    ):
        assert json.dumps(summary[field]).replace(f"s3://{BUCKET}/", "") == json.dumps(
            reference[field]
        ).replace(str(mirror) + "/", ""), field


class _DroppedBody:
    """A body whose connection drops after its first 100 bytes (once per object)."""

    def __init__(self, body: Any) -> None:
        self.body, self.sent = body, 0

    def read(self, size: int = -1) -> bytes:
        import botocore.exceptions

        if self.sent >= 100:  # as botocore's StreamingBody reports a dropped connection
            raise botocore.exceptions.ResponseStreamingError(error="connection dropped")
        data = bytes(self.body.read(min(size, 100 - self.sent) if size > 0 else 100))
        self.sent += len(data)
        return data


def test_a_dropped_download_resumes_where_it_stopped(
    s3: Any, tmp_path: Path, client_hooks: list[Hook], cache_reads: list[str]
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    key = key_for("20240502T1300Z")
    put(s3, BUCKET, key, gzip.compress(lines_for("20240502T1300Z", 300, 5)), layout.mirror)
    ranges: list[str | None] = []
    dropped: list[bool] = []

    def drop_first(parsed: dict[str, Any], **_: Any) -> None:
        if not dropped and parsed.get("ContentLength", 0) > 100:
            dropped.append(True)
            parsed["Body"] = _DroppedBody(parsed["Body"])

    def seen(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == key:
            ranges.append(params.get("Range"))

    client_hooks.append(("provide-client-params.s3.GetObject", seen))
    client_hooks.append(("after-call.s3.GetObject", drop_first))
    fetched = get_calls(client_hooks)
    db = tmp_path / "s.duckdb"
    result = run(
        "ingest",
        f"s3://{BUCKET}/{key}",
        "--db",
        str(db),
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert result.exit_code == 0, result.stderr
    assert fetched == [key, key] and ranges == [None, "bytes=100-"]
    assert run_sql(db, "SELECT count(*) FROM connections")[1] == [(300,)]
    assert cache_reads == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches /proc/PID/fd")
def test_ctrl_c_during_a_streamed_ingest_exits_130_and_leaves_whole_files(
    s3: Any, tmp_path: Path
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    big = key_for("20240502T1300Z")  # about 40 MB of text: seconds to download and scan
    put(s3, BUCKET, big, gzip.compress(lines_for("20240502T1300Z", 120_000, 5), 1), layout.mirror)
    cache, db = tmp_path / "c", tmp_path / "s.duckdb"
    cmd = [sys.executable, "-m", "mtls_doctor", "ingest", f"s3://{BUCKET}/web-logs"]
    cmd += ["--db", str(db), "--cache-dir", str(cache)]
    env = {**os.environ, "MTLS_DOCTOR_INGEST_GROUP_FILES": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _writing_into(proc.pid, cache):
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    for path in cache.rglob("*"):  # whole objects only, named as their keys
        if path.is_file():
            key = str(path.relative_to(cache / BUCKET))
            # A stray (notes.txt) is fetched whole before the streaming starts, when the
            # Ctrl-C comes late enough; it has no local copy.
            whole = STRAY_BODY if key in STRAY else layout.local(key).read_bytes()
            assert path.read_bytes() == whole
    if db.exists():  # each stored file whole: its rows are those its entry counts
        _, rows = run_sql(
            db,
            "SELECT f.rows, (SELECT count(*) FROM connections c WHERE c.file_id = f.file_id) "
            "FROM files f",
        )
        assert all(counted == held for counted, held in rows)
        assert big not in {s for (s,) in run_sql(db, "SELECT source FROM files")[1]}


def _writing_into(pid: int, folder: Path) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(folder)):
                return True
        except OSError:
            continue
    return False


def test_an_ingest_whose_every_object_is_refused_is_an_access_error_exit_4(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    from tests.aws.test_s3 import _error_response

    populate(s3, tmp_path / "mirror")
    refuse = ("before-call.s3.GetObject", lambda **_: _error_response(403, "AccessDenied", "x"))
    client_hooks.append(refuse)
    db = tmp_path / "s.duckdb"
    result = ingest(f"s3://{BUCKET}/web-logs", db, tmp_path / "c")
    assert result.exit_code == 4, result.stderr
    assert "access denied to s3:GetObject" in result.stderr and "Traceback" not in result.stderr
    # Near miss: with one object let through, the rest are named and the command exits 3.
    client_hooks.remove(refuse)
    let = key_for("20240502T1005Z")
    client_hooks.append(
        (
            "before-call.s3.GetObject",
            lambda params, **_: (
                None
                if params["url_path"].endswith(let.rsplit("/", 1)[-1])
                else _error_response(403, "AccessDenied", "x")
            ),
        )
    )
    again = ingest(f"s3://{BUCKET}/web-logs", db, tmp_path / "c")
    assert again.exit_code == 3, again.stderr
    # 10: notes.txt, fetched to be told apart by content, was refused too.
    assert "1 of 10 inputs read" in again.stderr


def test_downloads_wait_for_the_reader_memory_stays_bounded(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    """Backpressure: objects downloaded but not yet read keep their slot, so no more than
    ``workers`` objects are held while the reader is slower than the network."""
    from mtls_doctor.aws import session as aws_session
    from mtls_doctor.aws.layout import S3Url
    from mtls_doctor.aws.options import RemoteOptions
    from mtls_doctor.aws.s3 import list_log_objects
    from mtls_doctor.aws.s3stream import Downloads

    layout = populate(s3, tmp_path / "mirror")
    fetched = get_calls(client_hooks)
    opts = RemoteOptions(cache_dir=tmp_path / "c", workers=2)
    url = S3Url.parse(f"s3://{BUCKET}/web-logs")
    client = aws_session.new_client("s3", pool=2)
    objects = list_log_objects(client, url, opts).objects
    downloads = Downloads(client, url, opts)
    feeds = [downloads.feed(obj) for obj in objects]
    try:
        first = feeds[0].open()
        time.sleep(1.0)
        assert len(fetched) == 2  # the reader has taken nothing yet
        with first:
            assert first.read() == layout.local(objects[0].key).read_bytes()
        deadline = time.monotonic() + 10
        while len(fetched) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(fetched) == 3  # one object read: one more download, not all of them
        for feed, obj in zip(feeds[1:], objects[1:], strict=True):
            with feed.open() as stream:
                assert stream.read() == layout.local(obj.key).read_bytes()
        assert len(fetched) == len(objects) and all(f.sha256 for f in feeds)
    finally:
        downloads.close()
