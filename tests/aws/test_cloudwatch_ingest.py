"""``ingest cloudwatch:LOG_GROUP`` is incremental and at-least-once safe, against moto: a
re-run stores no event twice, stores what arrived since (late ones too, within the span
kept), and a run killed before its commit leaves nothing that hides an event."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.logs import ingest as ingest_module
from mtls_doctor.logs.ingest import run_sql
from tests.aws.conftest import Hook
from tests.aws.cwdata import GROUP, base_time, lines, make_group, ms, put
from tests.aws.test_cloudwatch import filter_calls, run


@pytest.fixture
def logs(aws_env: str) -> Any:
    import boto3

    return boto3.client("logs", region_name="us-east-1")


def ingest(db: Path, *extra: str) -> dict[str, Any]:
    result = run("ingest", f"cloudwatch:{GROUP}", "--db", str(db), "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def stored(db: Path) -> list[tuple[Any, ...]]:
    """(conn_trace_id, count) of every stored connection: any count above 1 is a duplicate."""
    _, rows = run_sql(db, "SELECT conn_trace_id, count(*) FROM connections GROUP BY 1 ORDER BY 1")
    return rows


def test_a_rerun_stores_nothing_twice_and_reads_only_the_recent_span(
    logs: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    base = base_time()
    a, b = lines(base, 30, 1), lines(base + timedelta(seconds=7), 20, 2)
    make_group(logs)
    put(logs, "s-a", a)
    put(logs, "s-b", b)
    db = tmp_path / "store.duckdb"
    assert ingest(db)["added_rows"] == 50
    calls = filter_calls(client_hooks)
    again = ingest(db)
    assert again["added_rows"] == 0 and again["files"] == []
    assert len(stored(db)) == 50 and all(n == 1 for _, n in stored(db))
    # Read again from 15 minutes (the late span) before the oldest stream's newest event.
    newest_b = max(t for t, _ in b)
    assert calls[0]["startTime"] == newest_b - 15 * 60_000


def test_events_that_arrive_later_are_stored_once(logs: Any, tmp_path: Path) -> None:
    base = base_time()
    a = lines(base, 30, 1)
    make_group(logs)
    put(logs, "s-a", a)
    db = tmp_path / "store.duckdb"
    assert ingest(db)["added_rows"] == 30
    newest = max(t for t, _ in a)
    newer = lines(base + timedelta(minutes=30), 5, 4)  # after the mark
    late = [(newest - 5 * 60_000 + 1, lines(base, 1, 5)[0][1])]  # late, within 15 minutes
    too_late = [(newest - 60 * 60_000, lines(base, 1, 6)[0][1])]  # an hour before the mark
    put(logs, "s-a", newer + late + too_late)
    put(logs, "s-new", lines(base + timedelta(minutes=40), 3, 7))
    second = ingest(db)
    assert second["added_rows"] == 5 + 1 + 3
    assert all(n == 1 for _, n in stored(db)) and len(stored(db)) == 39
    # An event more than the late span older than its stream's stored newest one is taken
    # as stored (docs/vended-logs.md says so): it is not read.
    assert ingest(db)["added_rows"] == 0


def test_a_run_killed_before_its_commit_hides_no_event(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_group(logs)
    put(logs, "s-a", lines(base_time(), 12, 1))
    db = tmp_path / "store.duckdb"
    ingest(db, "--since", "3h")  # creates the store; stores the 12 events
    put(logs, "s-a", lines(base_time() + timedelta(minutes=50), 4, 2))

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module, "append_sources", killed)
        assert run("ingest", f"cloudwatch:{GROUP}", "--db", str(db)).exit_code == 130
    _, noted = run_sql(db, "SELECT count(*) FROM cloudwatch_seen")
    assert noted[0][0] > 0  # the killed run noted the ids of events it never stored
    assert ingest(db)["added_rows"] == 4
    assert len(stored(db)) == 16 and all(n == 1 for _, n in stored(db))


def test_a_group_named_twice_in_one_ingest_is_stored_once(logs: Any, tmp_path: Path) -> None:
    make_group(logs)
    put(logs, "s-a", lines(base_time(), 6, 1))
    db = tmp_path / "store.duckdb"
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}"
    result = run("ingest", f"cloudwatch:{GROUP}", arn, "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added_rows"] == 6
    assert result.stderr.count(f"cloudwatch:{GROUP}: reading") == 1  # the same region and name
    assert len(stored(db)) == 6 and all(n == 1 for _, n in stored(db))


def test_first_ingest_with_since_starts_there(
    logs: Any, tmp_path: Path, client_hooks: list[Hook]
) -> None:
    base = base_time()
    make_group(logs)
    put(logs, "s-a", lines(base, 10, 1))
    calls = filter_calls(client_hooks)
    since = base + timedelta(seconds=100)
    added = ingest(tmp_path / "s.duckdb", "--since", since.isoformat())
    assert added["added_rows"] == 5  # 20 s apart: 100, 120, ..., 180
    assert calls[0]["startTime"] == ms(since)


def test_a_store_of_files_only_gets_no_cloudwatch_table(aws_env: str, tmp_path: Path) -> None:
    from tests.aws.cwdata import write_file

    log = write_file(tmp_path / "a.log", lines(base_time(), 3))
    db = tmp_path / "files.duckdb"
    assert run("ingest", str(log), "--db", str(db)).exit_code == 0
    _, rows = run_sql(
        db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'cloudwatch_seen'"
    )
    assert rows == [(0,)]
