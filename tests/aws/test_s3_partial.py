"""S3 inputs that cannot be read in whole, and objects that change, against the moto server.

What could be read is stored; every object that could not be is named, and ``ingest`` then
exits 3 with "N of M inputs read". An object replaced since it was stored is read again and
its rows replaced; an empty ``.log.gz`` is a truncated file; an interrupted download leaves
nothing half-written in the cache.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.aws.s3 import list_log_objects
from mtls_doctor.aws.s3fetch import fetch_all
from mtls_doctor.logs.ingest import run_sql
from tests.aws.albdata import BUCKET, key_for, lines_for, populate, put
from tests.aws.conftest import Hook
from tests.aws.test_s3_cli import get_calls, run

WEB_TOTAL = 47  # rows of the 9 web-logs objects (us-east-1 and eu-west-1)


def ingest(db: Path, cache: Path) -> Any:
    return run(
        "ingest",
        f"s3://{BUCKET}/web-logs",
        "--db",
        str(db),
        "--format",
        "json",
        "--cache-dir",
        str(cache),
    )


def stored_rows(db: Path) -> int:
    return int(run_sql(db, "SELECT count(*) FROM connections")[1][0][0])


@pytest.fixture
def enforced_auth(aws_env: str) -> Iterator[None]:
    """moto checks every request against the caller's IAM policies while this is active."""
    yield
    _reset_auth(aws_env, "inf")


def _reset_auth(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed, not passed
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.mark.usefixtures("enforced_auth")
def test_objects_the_policy_refuses_are_named_and_the_rest_stored_exit_3(
    s3: Any, aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real refusal: moto evaluates the caller's IAM policy, which denies two keys (moto
    does not evaluate bucket policies, so the Deny sits on the identity)."""
    import boto3

    layout = populate(s3, tmp_path / "mirror")
    denied = [key_for("20240502T1005Z"), key_for("20240502T1300Z")]
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{BUCKET}/{key}" for key in denied],
            },
        ],
    }
    iam.put_user_policy(UserName="reader", PolicyName="logs", PolicyDocument=json.dumps(policy))
    access = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
    _reset_auth(aws_env, "0")
    db = tmp_path / "s.duckdb"
    result = ingest(db, tmp_path / "c")
    assert result.exit_code == 3, result.stderr
    for key in denied:
        assert f"s3://{BUCKET}/{key}: cannot read: access denied to s3:GetObject" in result.stderr
    assert "7 of 9 inputs read" in result.stderr
    summary = json.loads(result.stdout)
    assert (summary["inputs"], summary["inputs_read"], summary["added_files"]) == (9, 7, 7)
    assert stored_rows(db) == WEB_TOTAL - sum(layout.keys[key] for key in denied)
    # Near miss: once the policy allows them, a re-run fetches those two and completes.
    _reset_auth(aws_env, "inf")
    again = ingest(db, tmp_path / "c")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["added_files"] == 2 and "2 of 2 inputs read" in again.stderr
    assert stored_rows(db) == WEB_TOTAL


def test_objects_deleted_after_listing_are_named_and_the_rest_stored_exit_3(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    gone = [key_for("20240502T1005Z"), key_for("20240501T2355Z")]

    def delete_after_listing(parsed: dict[str, Any], **_: Any) -> None:
        listed = {item["Key"] for item in parsed.get("Contents", [])}
        for key in set(gone) & listed:
            s3.delete_object(Bucket=BUCKET, Key=key)

    client_hooks.append(("after-call.s3.ListObjectsV2", delete_after_listing))
    db = tmp_path / "s.duckdb"
    result = ingest(db, tmp_path / "c")
    assert result.exit_code == 3, result.stderr
    for key in gone:
        assert f"s3://{BUCKET}/{key}: cannot read: no such object" in result.stderr
    assert "7 of 9 inputs read" in result.stderr
    assert stored_rows(db) == WEB_TOTAL - sum(layout.keys[key] for key in gone)


def test_a_replaced_object_is_read_again_and_its_rows_replaced(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    fetched = get_calls(client_hooks)
    db, cache = tmp_path / "s.duckdb", tmp_path / "c"
    assert ingest(db, cache).exit_code == 0
    changed = key_for("20240502T1005Z")  # 6 rows, now 2 others
    put(s3, BUCKET, changed, gzip.compress(lines_for("20240502T1005Z", 2, 40)), tmp_path / "m")
    fetched.clear()
    result = ingest(db, cache)
    assert result.exit_code == 0, result.stderr
    assert fetched == [changed]
    (item,) = [f for f in json.loads(result.stdout)["files"] if f["status"] != "unchanged"]
    assert (item["status"], item["rows"]) == ("replaced", 2)
    assert stored_rows(db) == WEB_TOTAL - layout.keys[changed] + 2
    _, entries = run_sql(db, f"SELECT rows FROM files WHERE source = 's3://{BUCKET}/{changed}'")
    assert entries == [(2,)]


def test_new_content_of_the_same_size_is_told_by_its_etag(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    # Stored as plain text (the reader goes by content): one digit changed keeps the size.
    populate(s3, tmp_path / "mirror")
    key = key_for("20240502T1005Z")
    text = lines_for("20240502T1005Z", 6, 3)
    put(s3, BUCKET, key, text, tmp_path / "m")
    db, cache = tmp_path / "s.duckdb", tmp_path / "c"
    assert ingest(db, cache).exit_code == 0
    edited = text.replace(b" 443 ", b" 444 ", 1)
    assert len(edited) == len(text) and edited != text
    put(s3, BUCKET, key, edited, tmp_path / "m")
    fetched = get_calls(client_hooks)
    result = ingest(db, cache)  # the same cache: a cached file of that size is stale too
    assert result.exit_code == 0 and fetched == [key]
    _, ports = run_sql(
        db,
        "SELECT listener_port, count(*) FROM connections_v "
        f"WHERE source_file = 's3://{BUCKET}/{key}' GROUP BY ALL ORDER BY 1",
    )
    before = text.count(b" 443 ")
    assert ports == ([(443, before - 1)] if before > 1 else []) + [(444, 1)]


def test_an_empty_gzip_object_is_a_truncated_file(s3: Any, tmp_path: Path) -> None:
    populate(s3, tmp_path / "mirror")
    empty = key_for("20240502T1005Z")
    put(s3, BUCKET, empty, b"", tmp_path / "m")
    db = tmp_path / "s.duckdb"
    result = ingest(db, tmp_path / "c")
    assert result.exit_code == 3, result.stderr
    assert f"s3://{BUCKET}/{empty}: cannot read: truncated gzip stream" in result.stderr
    assert "8 of 9 inputs read" in result.stderr
    _, sources = run_sql(db, "SELECT source FROM files")
    assert f"s3://{BUCKET}/{empty}" not in {s for (s,) in sources}
    # Near miss: once the object is delivered whole, the next run reads it.
    put(s3, BUCKET, empty, gzip.compress(lines_for("20240502T1005Z", 6, 3)), tmp_path / "m")
    again = ingest(db, tmp_path / "c")
    assert again.exit_code == 0 and json.loads(again.stdout)["added_files"] == 1


class _SlowBody:
    """A response body that trickles: a download stays in progress for seconds."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def read(self, size: int = -1) -> bytes:
        time.sleep(0.1)
        return bytes(self.body.read(16))


def test_ctrl_c_stops_the_downloads_and_leaves_nothing_half_written(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    populate(s3, tmp_path / "mirror")

    def slow(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Body"] = _SlowBody(parsed["Body"])

    client_hooks.append(("after-call.s3.GetObject", slow))
    opts = RemoteOptions(cache_dir=tmp_path / "cache", workers=2)
    url = S3Url.parse(f"s3://{BUCKET}/web-logs")
    client = aws_session.new_client("s3", pool=2)  # with the hook
    objects = list_log_objects(client, url, opts).objects
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fetch_all(client, url, objects, opts)
    timer.join()
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not [p for p in cached if ".part" in p.name or ".new-" in p.name]
    # The downloads were stopped, not finished: each object takes several seconds here.
    assert len(cached) < len(objects) and time.monotonic() - started < 10


def _writing_into(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` holds a file of ``folder`` open (a download in progress)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(folder)):
                return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches /proc/PID/fd")
def test_a_killed_ingest_leaves_no_partial_download(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)
    big = os.urandom(24 * 1024 * 1024)
    keys = [key_for(end) for end in ("20240502T1005Z", "20240502T1300Z", "20240501T2355Z")]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=big)
    cache = tmp_path / "c"
    cmd = [sys.executable, "-m", "mtls_doctor", "ingest", f"s3://{BUCKET}/web-logs"]
    cmd += ["--db", str(tmp_path / "s.duckdb"), "--cache-dir", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _writing_into(proc.pid, cache):
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # while a download is being written
    proc.wait()
    for path in cache.rglob("*"):
        assert path.is_dir() or path.stat().st_size == len(big), path
