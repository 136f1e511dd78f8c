"""Listing and fetching an ALB-like bucket on a real moto server (loopback HTTP)."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions, TransferEvent
from mtls_doctor.aws.s3 import expand_s3, list_log_objects
from mtls_doctor.errors import AwsAccessError, InputError
from tests.aws.albdata import API, BUCKET, WEB, key_for, populate
from tests.aws.conftest import Hook


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def listed_prefixes(hooks: list[Hook]) -> list[str]:
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if "Delimiter" not in params:
            seen.append(params["Prefix"])

    hooks.append(("provide-client-params.s3.ListObjectsV2", record))
    return seen


def test_window_lists_only_the_day_folders_it_needs(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    populate(s3, tmp_path / "mirror")
    prefixes = listed_prefixes(client_hooks)
    opts = RemoteOptions(since=t("2024-05-02T10:00"), until=t("2024-05-02T11:30"))
    from mtls_doctor.aws import session

    listing = list_log_objects(
        session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/web-logs"), opts
    )
    assert sorted(o.key for o in listing.objects) == sorted(
        [
            key_for("20240502T1005Z"),
            key_for("20240502T1105Z"),
            key_for("20240502T1105Z", lb=API),
            key_for("20240502T1005Z", region="eu-west-1"),
        ]
    )
    days = {p.split("elasticloadbalancing/")[1] for p in prefixes}
    assert days == {f"{r}/2024/05/0{d}/" for r in ("eu-west-1", "us-east-1") for d in (2, 3)}
    assert listing.skipped_window == 3  # 0000Z and 1300Z of the 2nd, 0905Z of the 3rd
    # Near miss: the day before the window is never listed, so its files are not even seen.
    assert key_for("20240501T2355Z") not in {o.key for o in listing.objects}
    assert listing.silent == 1  # the access log
    # notes.txt lies in a delivery layout, where vended objects of unknown names land: it is
    # told apart by its content once fetched (it is not a log: expand_s3 reports it).
    assert [o.key.rsplit("/", 1)[1] for o in listing.by_content] == ["notes.txt"]
    assert not listing.unknown


def test_midnight_connection_is_found_in_the_next_day_folder(s3: Any, tmp_path: Path) -> None:
    populate(s3, tmp_path / "mirror")
    from mtls_doctor.aws import session

    opts = RemoteOptions(
        since=t("2024-05-01T23:56"), until=t("2024-05-02T00:00"), region="us-east-1", lb="web"
    )
    listing = list_log_objects(
        session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/web-logs/"), opts
    )
    assert [o.key for o in listing.objects] == [
        key_for("20240501T2355Z"),
        key_for("20240502T0000Z"),
    ]
    # Near miss: with --lb api nothing of the web load balancer is selected.
    opts = RemoteOptions(since=t("2024-05-01T23:56"), until=t("2024-05-02T00:00"), lb="api")
    listing = list_log_objects(
        session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/web-logs/"), opts
    )
    assert listing.objects == []


def test_fetch_is_parallel_cached_and_complete(s3: Any, tmp_path: Path) -> None:
    layout = populate(s3, tmp_path / "mirror")
    events: list[TransferEvent] = []
    opts = RemoteOptions(
        cache_dir=tmp_path / "cache", lb=WEB, region="us-east-1", observer=events.append
    )
    scan = expand_s3(f"s3://{BUCKET}/web-logs", tmp_path, opts)
    assert len(scan.sources) == 7
    for source in scan.sources:
        key = source.display.split(f"s3://{BUCKET}/", 1)[1]
        assert source.path.read_bytes() == layout.local(key).read_bytes()
        assert source.gzip
    # And notes.txt: in a delivery layout an object of another name (a vended log?) is
    # fetched to be told apart by content; it is not a log, so it is reported, not read.
    assert [e.kind for e in events].count("fetched") == 8
    assert [u.rsplit("/", 1)[1] for u in scan.skipped_unknown] == ["notes.txt"]
    events.clear()
    again = expand_s3(f"s3://{BUCKET}/web-logs", tmp_path, opts)
    assert [s.path for s in again.sources] == [s.path for s in scan.sources]
    assert [e.kind for e in events].count("cached") == 8 and "fetched" not in [
        e.kind for e in events
    ]


def test_throttled_object_is_retried_and_a_persistent_one_reported(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    """Throttling is injected with a botocore ``before-call`` hook (moto never throttles)."""
    populate(s3, tmp_path / "mirror")
    flaky, broken = key_for("20240502T1005Z"), key_for("20240502T1105Z")
    calls: dict[str, int] = {}

    def throttle(params: dict[str, Any], **_: Any) -> Any:
        path = urllib.parse.unquote(params["url_path"])
        for key in (flaky, broken):
            if path.endswith(key):
                calls[key] = calls.get(key, 0) + 1
                if key == broken or calls[key] <= 2:
                    return _error_response(503, "SlowDown", "Please reduce your request rate.")
        return None

    client_hooks.append(("before-call.s3.GetObject", throttle))
    events: list[TransferEvent] = []
    opts = RemoteOptions(
        cache_dir=tmp_path / "cache",
        lb="web",
        region="us-east-1",
        backoff_seconds=0.01,
        observer=events.append,
    )
    scan = expand_s3(f"s3://{BUCKET}/web-logs", tmp_path, opts)
    names = {s.display for s in scan.sources}
    assert f"s3://{BUCKET}/{flaky}" in names and calls[flaky] == 3
    assert f"s3://{BUCKET}/{broken}" not in names and calls[broken] == opts.attempts
    failed = [e for e in events if e.kind == "failed"]
    assert (
        len(failed) == 1 and "SlowDown" in failed[0].message and "4 attempts" in failed[0].message
    )
    assert len(scan.sources) == 6


def test_every_object_refused_is_an_access_error(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    """AccessDenied is injected with a botocore hook: moto does not enforce per-key policies."""
    populate(s3, tmp_path / "mirror")
    client_hooks.append(
        (
            "before-call.s3.GetObject",
            lambda **_: _error_response(403, "AccessDenied", "Access Denied"),
        )
    )
    opts = RemoteOptions(cache_dir=tmp_path / "cache", region="us-east-1", lb="web")
    with pytest.raises(AwsAccessError, match="access denied to s3:GetObject") as raised:
        expand_s3(f"s3://{BUCKET}/web-logs", tmp_path, opts)
    assert f"s3://{BUCKET}/web-logs/AWSLogs/" in raised.value.message
    assert "s3:GetObject" in (raised.value.hint or "")


def test_missing_bucket_is_bad_input(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such bucket"):
        expand_s3("s3://no-such-bucket/x", tmp_path, RemoteOptions(cache_dir=tmp_path))


def test_no_awslogs_folder_reads_the_names_under_the_prefix(s3: Any, tmp_path: Path) -> None:
    layout = populate(s3, tmp_path / "mirror")
    copy = "copies/" + key_for("20240502T1005Z").rsplit("/", 1)[1]
    s3.put_object(
        Bucket=BUCKET, Key=copy, Body=layout.local(key_for("20240502T1005Z")).read_bytes()
    )
    scan = expand_s3(f"s3://{BUCKET}/copies", tmp_path, RemoteOptions(cache_dir=tmp_path / "c"))
    assert [s.display for s in scan.sources] == [f"s3://{BUCKET}/{copy}"]
    # Near miss: "other/" holds only a stray text file, which is reported, not read.
    scan = expand_s3(f"s3://{BUCKET}/other", tmp_path, RemoteOptions(cache_dir=tmp_path / "c"))
    assert scan.sources == () and scan.skipped_unknown == (f"s3://{BUCKET}/other/readme.txt",)


def _error_response(status: int, code: str, message: str) -> Any:
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **_: Any) -> Any:
            return iter([b""])

    response = AWSResponse("http://127.0.0.1/", status, {}, _Raw())
    return response, {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "MaxAttemptsReached": True},
    }
