"""``logs query``, ``ingest`` and ``diagnose`` with s3:// PATHS, against the moto server."""

from __future__ import annotations

import gzip
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.aws.albdata import BUCKET, key_for, populate, put
from tests.aws.conftest import Hook
from tests.aws.test_s3 import _error_response

WINDOW = ["--since", "2024-05-02T00:00:00Z", "--until", "2024-05-02T12:00:00Z"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def counts(result: Any) -> dict[str, int]:
    assert result.exit_code == 0, result.stderr
    return {row["tls_verify_status"]: row["count"] for row in json.loads(result.stdout)}


def get_calls(hooks: list[Hook]) -> list[str]:
    seen: list[str] = []
    hooks.append(
        ("provide-client-params.s3.GetObject", lambda params, **_: seen.append(params["Key"]))
    )
    return seen


def query(*paths: str, extra: tuple[str, ...] = ()) -> Any:
    return run(
        "logs",
        "query",
        *paths,
        *WINDOW,
        "--count-by",
        "tls_verify_status",
        "--format",
        "json",
        "--region",
        "us-east-1",
        *extra,
    )


def test_query_from_s3_counts_like_the_same_files_read_locally(s3: Any, tmp_path: Path) -> None:
    layout = populate(s3, tmp_path / "mirror")
    remote = query(f"s3://{BUCKET}/web-logs", extra=("--cache-dir", str(tmp_path / "c")))
    local = query(
        str(
            tmp_path
            / "mirror"
            / "web-logs"
            / "AWSLogs"
            / "123456789012"
            / "elasticloadbalancing"
            / "us-east-1"
        )
    )
    assert counts(remote) == counts(local) and sum(counts(remote).values()) > 0
    assert "to read" in remote.stderr
    # Near miss: narrowing to the api load balancer gives other counts.
    api = query(
        f"s3://{BUCKET}/web-logs", extra=("--lb", "api", "--cache-dir", str(tmp_path / "c"))
    )
    assert counts(api) != counts(remote)
    assert (
        sum(counts(api).values())
        == layout.keys[key_for("20240502T1105Z", lb="app.api.fedcba0987654321")]
    )


def test_second_ingest_downloads_nothing(s3: Any, tmp_path: Path, client_hooks: list[Hook]) -> None:
    populate(s3, tmp_path / "mirror")
    fetched = get_calls(client_hooks)
    db = str(tmp_path / "s.duckdb")
    first = run(
        "ingest",
        f"s3://{BUCKET}/web-logs",
        "--db",
        db,
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c1"),
    )
    assert first.exit_code == 0, first.stderr
    # notes.txt too: in a delivery layout, an object of another name is fetched to be told
    # apart by content (vended object names are UNCONFIRMED); it is no log, so not stored.
    notes = [key for key in fetched if key.endswith("/notes.txt")]
    assert json.loads(first.stdout)["added_files"] == 9 and len(fetched) == 10 and notes
    fetched.clear()
    # A fresh cache: the store alone tells which objects are already in.
    second = run(
        "ingest",
        f"s3://{BUCKET}/web-logs",
        "--db",
        db,
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c2"),
    )
    assert second.exit_code == 0 and fetched == notes
    assert json.loads(second.stdout)["added_files"] == 0
    assert "9 already in the store" in second.stderr
    fetched.clear()
    # Near miss: a new object delivered since is fetched, and only that one.
    new_key = key_for("20240503T0905Z").replace("0905Z", "0910Z")
    put(s3, BUCKET, new_key, gzip.compress(b""), tmp_path / "mirror")
    third = run(
        "ingest",
        f"s3://{BUCKET}/web-logs",
        "--db",
        db,
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c2"),
    )
    assert fetched == [new_key] and json.loads(third.stdout)["added_files"] == 1


def test_ingest_window_narrows_what_is_fetched(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    populate(s3, tmp_path / "mirror")
    fetched = get_calls(client_hooks)
    result = run(
        "ingest",
        f"s3://{BUCKET}/web-logs",
        "--db",
        str(tmp_path / "w.duckdb"),
        "--since",
        "2024-05-03T09:00:00Z",
        "--until",
        "2024-05-03T09:05:00Z",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert result.exit_code == 0, result.stderr
    assert fetched == [key_for("20240503T0905Z")]


def test_object_deleted_between_list_and_get_is_reported_and_the_rest_read(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    layout = populate(s3, tmp_path / "mirror")
    gone = key_for("20240502T1005Z")

    def delete_after_listing(parsed: dict[str, Any], **_: Any) -> None:
        if any(item["Key"] == gone for item in parsed.get("Contents", [])):
            s3.delete_object(Bucket=BUCKET, Key=gone)

    client_hooks.append(("after-call.s3.ListObjectsV2", delete_after_listing))
    remote = query(
        f"s3://{BUCKET}/web-logs", extra=("--lb", "web", "--cache-dir", str(tmp_path / "c"))
    )
    assert f"s3://{BUCKET}/{gone}: cannot read: no such object" in remote.stderr
    layout.local(gone).unlink()
    local = query(
        str(
            tmp_path
            / "mirror"
            / "web-logs"
            / "AWSLogs"
            / "123456789012"
            / "elasticloadbalancing"
            / "us-east-1"
        ),
        extra=("--lb", "web"),
    )
    api_rows = layout.keys[key_for("20240502T1105Z", lb="app.api.fedcba0987654321")]
    assert sum(counts(remote).values()) == sum(counts(local).values()) - api_rows


def test_truncated_object_is_read_as_far_as_it_goes(s3: Any, tmp_path: Path) -> None:
    layout = populate(s3, tmp_path / "mirror")
    cut = key_for("20240502T1105Z")
    data = layout.local(cut).read_bytes()
    put(s3, BUCKET, cut, data[: len(data) // 2], tmp_path / "mirror")
    remote = query(f"s3://{BUCKET}/web-logs", extra=("--cache-dir", str(tmp_path / "c")))
    local = query(
        str(
            tmp_path
            / "mirror"
            / "web-logs"
            / "AWSLogs"
            / "123456789012"
            / "elasticloadbalancing"
            / "us-east-1"
        )
    )
    assert counts(remote) == counts(local)
    assert f"s3://{BUCKET}/{cut}: truncated gzip stream" in remote.stderr


def test_access_denied_on_one_key_is_reported_and_the_rest_read(
    s3: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    """moto cannot deny a single key, so AccessDenied is injected by a botocore hook."""
    layout = populate(s3, tmp_path / "mirror")
    denied = key_for("20240502T1300Z")

    def deny(params: dict[str, Any], **_: Any) -> Any:
        if urllib.parse.unquote(params["url_path"]).endswith(denied):
            return _error_response(403, "AccessDenied", "Access Denied")
        return None

    client_hooks.append(("before-call.s3.GetObject", deny))
    result = run(
        "logs",
        "query",
        f"s3://{BUCKET}/web-logs",
        "--count-by",
        "tls_verify_status",
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c"),
        "--region",
        "us-east-1",
    )
    assert result.exit_code == 0, result.stderr
    assert f"s3://{BUCKET}/{denied}: cannot read: access denied to s3:GetObject" in result.stderr
    total = sum(v for k, v in layout.keys.items() if "web-logs/" in k and "us-east-1" in k)
    assert sum(counts(result).values()) == total - layout.keys[denied]


def test_missing_credentials_exit_4_naming_bucket_and_action(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(s3, tmp_path / "mirror")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run("logs", "query", f"s3://{BUCKET}/web-logs", "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 4
    assert (
        f"error: s3://{BUCKET}/web-logs/AWSLogs/: no usable AWS credentials for s3:ListBucket"
        in result.stderr
    )
    assert "hint: Give --profile" in result.stderr and "Traceback" not in result.stderr


def test_listing_refused_is_exit_4(s3: Any, tmp_path: Path, client_hooks: list[Hook]) -> None:
    """ListBucket is refused by a botocore hook (moto does not enforce bucket policies here)."""
    populate(s3, tmp_path / "mirror")
    client_hooks.append(
        (
            "before-call.s3.ListObjectsV2",
            lambda **_: _error_response(403, "AccessDenied", "Access Denied"),
        )
    )
    result = run("logs", "query", f"s3://{BUCKET}/web-logs", "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 4
    assert f"s3://{BUCKET}/web-logs/AWSLogs/: access denied to s3:ListBucket" in result.stderr
    assert "hint: Allow s3:ListBucket" in result.stderr


def test_report_reads_s3_as_diagnose_does(s3: Any, tmp_path: Path) -> None:
    populate(s3, tmp_path / "mirror")
    common = (f"s3://{BUCKET}/web-logs", *WINDOW, "--region", "us-east-1")
    diagnosed = run("diagnose", *common, "--format", "json", "--cache-dir", str(tmp_path / "c"))
    assert diagnosed.exit_code in (0, 1), diagnosed.stderr
    connections = json.loads(diagnosed.stdout)["summary"]["connections"]
    page = tmp_path / "report.html"
    reported = run("report", *common, "-o", str(page), "--cache-dir", str(tmp_path / "c"))
    assert reported.exit_code in (0, 1), reported.stderr
    assert f"{connections} connections" in reported.stderr and page.read_text().startswith("<")
