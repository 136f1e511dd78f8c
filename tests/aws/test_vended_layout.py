"""Vended (V2) delivery layouts, flat and Hive-style, walked with day pruning: S3 on the moto
server, and the same tree as a local folder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.aws.s3 import expand_s3, list_log_objects
from mtls_doctor.aws.s3fetch import S3Object
from mtls_doctor.aws.s3list import _written_before
from mtls_doctor.logs.layout import (
    day_of_key_part,
    day_prefix,
    folder_may_hold,
    in_delivery_layout,
    window_days,
)
from mtls_doctor.logs.sources import expand_inputs
from tests.aws.albdata import ACCOUNT
from tests.aws.conftest import Hook
from tests.aws.vendeddata import BUCKET, FLAT, HIVE, day, write

SINCE, UNTIL = day("2026-09-10T00:00"), day("2026-09-10T23:59")


def listed_prefixes(hooks: list[Hook]) -> list[str]:
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if "Delimiter" not in params and "MaxKeys" not in params:
            seen.append(params["Prefix"])

    hooks.append(("provide-client-params.s3.ListObjectsV2", record))
    return seen


def test_day_folders_in_both_layouts() -> None:
    assert day_prefix(date(2026, 9, 10)) == "2026/09/10/"
    assert day_prefix(date(2026, 9, 10), hive=True) == "year=2026/month=09/day=10/"
    assert day_of_key_part("year=2026/month=09/day=10/x") == date(2026, 9, 10)
    assert day_of_key_part("2026/09/10/x") == date(2026, 9, 10)
    # Near misses: a Hive folder with other keys, a date that does not exist.
    assert day_of_key_part("yr=2026/month=09/day=10/x") is None
    assert day_of_key_part("2026/02/30/x") is None


def test_folder_pruning_keeps_what_it_does_not_understand() -> None:
    days = window_days(SINCE, UNTIL)
    assert days == (date(2026, 9, 10), date(2026, 9, 11))  # the next delivery day too
    hive = [f"aws-account-id={ACCOUNT}", "elasticloadbalancing", "region=us-east-1"]
    flat = [ACCOUNT, "elasticloadbalancing", "us-east-1"]
    assert days is not None
    assert folder_may_hold([*hive, "year=2026", "month=09", "day=11"], days)
    assert not folder_may_hold([*hive, "year=2026", "month=09", "day=09"], days)
    assert not folder_may_hold([*flat, "2026", "08"], days)
    assert not folder_may_hold([*flat, "2025"], days)
    assert folder_may_hold([*flat, "2026", "09"], days)
    # Near misses: folders that are not day folders of the layout are walked.
    assert folder_may_hold([*flat, "archive"], days)
    assert folder_may_hold([*flat, "2026", "13"], days)
    assert folder_may_hold([ACCOUNT, "cloudfront", "us-east-1", "2025"], days)
    assert in_delivery_layout(["x", "AWSLogs", *hive, "f"])
    assert not in_delivery_layout(["x", "AWSLogs", ACCOUNT, "f"])


def test_s3_window_lists_the_day_folders_of_both_layouts(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    data = write(tmp_path / "mirror", s3)
    prefixes = listed_prefixes(client_hooks)
    from mtls_doctor.aws import session

    opts = RemoteOptions(since=SINCE, until=UNTIL)
    listing = list_log_objects(session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/v2"), opts)
    days = ["2026/09/10/", "2026/09/11/", "year=2026/month=09/day=10/"]
    days.append("year=2026/month=09/day=11/")
    assert sorted(prefixes) == sorted([FLAT + d for d in days[:2]] + [HIVE + d for d in days[2:]])
    names = [o.key.rsplit("/", 1)[1] for o in listing.by_content]
    expected = ["delivery-a2", "delivery-access", "delivery-b2", "delivery-b3", "notes.txt"]
    assert sorted(names) == expected
    assert not listing.objects and not listing.unknown  # nothing is told by its name
    # By content: the Parquet logs are read, the access log skipped silently, notes.txt named.
    scan = expand_s3(f"s3://{BUCKET}/v2", tmp_path, RemoteOptions(since=SINCE, until=UNTIL))
    read = sorted(s.display.rsplit("/", 1)[1] for s in scan.sources)
    assert read == ["delivery-a2", "delivery-b2", "delivery-b3"]
    assert scan.skipped_silently == 1
    assert [u.rsplit("/", 1)[1] for u in scan.skipped_unknown] == ["notes.txt"]
    # Near miss: without a window, the 09-08 folders are read too.
    every = expand_s3(f"s3://{BUCKET}/v2", tmp_path, RemoteOptions())
    assert len(every.sources) == len(data.objects) == 5


def test_s3_account_and_region_find_the_hive_folders(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    write(tmp_path / "mirror", s3)
    prefixes = listed_prefixes(client_hooks)
    from mtls_doctor.aws import session

    opts = RemoteOptions(since=SINCE, until=UNTIL, account=ACCOUNT, region="us-east-1")
    listing = list_log_objects(session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/v2"), opts)
    assert f"{HIVE}year=2026/month=09/day=10/" in prefixes
    assert f"{FLAT}2026/09/10/" in prefixes
    assert len(listing.by_content) == 5
    # Near miss: another region's folders are not listed, in either layout.
    prefixes.clear()
    opts = RemoteOptions(since=SINCE, until=UNTIL, account=ACCOUNT, region="eu-west-1")
    listing = list_log_objects(session.new_client("s3"), S3Url.parse(f"s3://{BUCKET}/v2"), opts)
    assert not listing.by_content and all("eu-west-1" in p for p in prefixes)


def test_an_object_written_before_the_window_cannot_hold_it() -> None:
    written = datetime(2026, 9, 9, 23, 50, tzinfo=UTC)
    obj = S3Object("k", 1, written)
    assert _written_before(obj, RemoteOptions(since=day("2026-09-10T00:00")))
    # Near misses: within the slack, or no window start.
    assert not _written_before(obj, RemoteOptions(since=day("2026-09-09T23:54")))
    assert not _written_before(obj, RemoteOptions())


def test_local_folder_walk_prunes_days_and_tells_files_by_content(tmp_path: Path) -> None:
    data = write(tmp_path / "logs")
    scan = expand_inputs([str(data.root)], workdir=tmp_path, since=SINCE, until=UNTIL)
    read = sorted(s.path.name for s in scan.sources)
    assert read == ["delivery-a2", "delivery-b2", "delivery-b3"]
    assert scan.skipped_silently == 1
    assert [Path(u).name for u in scan.skipped_unknown] == ["notes.txt"]
    # Near misses: without a window every day is read; a glob is pruned alike.
    every = expand_inputs([str(data.root)], workdir=tmp_path)
    assert len(every.sources) == 5
    pattern = str(data.root / "v2" / "AWSLogs" / "**" / "delivery-*")
    globbed = expand_inputs([pattern], workdir=tmp_path, since=SINCE, until=UNTIL)
    assert sorted(s.path.name for s in globbed.sources) == read


def _counts(*args: str) -> dict[str, int]:
    import json

    from click.testing import CliRunner

    from mtls_doctor.cli import cli

    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    result = CliRunner().invoke(
        cli,
        ["logs", "query", *args, *window, "--count-by", "tls_verify_status", "--format", "json"],
    )
    assert result.exit_code == 0, result.stderr
    return {row["tls_verify_status"]: row["count"] for row in json.loads(result.stdout)}


def test_logs_query_of_both_layouts_counts_the_window_as_a_legacy_file(
    s3: Any, tmp_path: Path
) -> None:
    from tests.aws.vendeddata import legacy_bytes

    data = write(tmp_path / "mirror", s3)
    every = [item for items in data.objects.values() for item in items]
    legacy = tmp_path / "legacy" / "conn_log_all.log.gz"
    legacy.parent.mkdir()
    legacy.write_bytes(legacy_bytes(every))
    expected = _counts(str(legacy))
    # 09-10's connections: 5 and 6, and of the two delivered on 09-11, the one before midnight.
    assert sum(expected.values()) == 5 + 6 + 1
    assert _counts(str(data.root / "v2")) == expected
    remote = _counts(f"s3://{BUCKET}/v2", "--cache-dir", str(tmp_path / "cache"))
    assert remote == expected


def test_a_parquet_object_read_as_it_downloads_is_spooled_then_read(
    s3: Any, tmp_path: Path
) -> None:
    """An object with a legacy name is streamed to the reader (``ingest``); a Parquet one is
    read from its end, so it is spooled to a temporary file first, then read as any other."""
    import json

    from click.testing import CliRunner

    from mtls_doctor.cli import cli
    from tests.aws.vendeddata import entries, legacy_bytes, parquet_bytes

    items = entries(day("2026-09-10T10:00"), 9, 7)
    key = (
        f"p/AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2026/09/10/conn_log_{ACCOUNT}_"
        f"elasticloadbalancing_us-east-1_app.web.1234567890abcdef_20260910T1100Z_10.0.0.5_ab.log"
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=key, Body=parquet_bytes(items))
    db, cache = str(tmp_path / "s.duckdb"), str(tmp_path / "cache")
    args = ["--db", db, "--format", "json", "--cache-dir", cache]
    result = CliRunner().invoke(cli, ["ingest", f"s3://{BUCKET}/p", *args])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added_files"] == 1
    legacy = tmp_path / "conn_log_same.log.gz"
    legacy.write_bytes(legacy_bytes(items))
    query = ["logs", "query", "--count-by", "tls_verify_status", "--format", "json"]
    stored = CliRunner().invoke(cli, [*query, "--db", db])
    direct = CliRunner().invoke(cli, [*query, str(legacy)])
    assert json.loads(stored.stdout) == json.loads(direct.stdout)
    assert sum(r["count"] for r in json.loads(stored.stdout)) == 9
