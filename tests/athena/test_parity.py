"""The Athena path gives exactly the local engine's diagnosis over the same corpus.

Athena is played by :mod:`tests.athena.fakeathena`: the DDL's regex turns lines into the
table's columns, and every query is rendered to Trino SQL, parsed in the Trino dialect,
transpiled back to DuckDB and run. The local side is diagnose over the same lines as files.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mtls_doctor.athena.dialect import DayRange
from mtls_doctor.athena.target import AthenaTarget, ScanBudget, prefetch_diagnosis
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.source import RowsSource, Scope
from mtls_doctor.diagnose.target import open_target
from mtls_doctor.errors import UsageError
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from tests.athena.fakeathena import TABLE, DuckRunner, load_table
from tests.diagnose.corpus import NOW, T0


def _local(tmp_path: Path, corpus: dict[str, list[str]], filters: Filters) -> dict[str, Any]:
    paths = []
    for key, lines in corpus.items():
        if "conn_log" not in key:
            continue
        path = tmp_path / "local" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        paths.append(str(path))
    with open_target(paths, db=None, scope=Scope.of(filters, NOW)) as target:
        return diagnose(target, filters, DiagnoseOptions(NOW)).to_dict()


def _athena(
    corpus: dict[str, list[str]], filters: Filters
) -> tuple[dict[str, Any], AthenaTarget, DuckRunner]:
    con = duckdb.connect()
    load_table(con, corpus)
    runner = DuckRunner(con)
    target = AthenaTarget(runner, TABLE, DayRange.around(filters.since, filters.until))
    from mtls_doctor.diagnose.target import resolve_candidates

    filters = resolve_candidates(target, filters)
    prefetch_diagnosis(target, filters, now=NOW, warn_days=30)
    asked = len(runner.sqls)
    source = RowsSource(target, Scope.of(filters, NOW))
    result = diagnose(source, filters, DiagnoseOptions(NOW)).to_dict()
    assert len(runner.sqls) == asked, "diagnose asked something the prefetch did not foresee"
    return result, target, runner


FILTERS = [
    Filters(),
    Filters(since=T0 + timedelta(minutes=30), until=T0 + timedelta(days=1, hours=1)),
    Filters(status=parse_status("failed"), subject="O'Brien"),
    Filters(status=parse_status("ClientCertExpired")),
    Filters(client=parse_client("203.0.113.0/24"), serial="0002"),
    Filters(client=parse_client("2001:db8::/32")),
    Filters(listener_port=443, tls_protocol="TLSv1.3", subject="old CLIENT"),
]


@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_same_diagnosis_as_local_engine(
    tmp_path: Path, corpus: dict[str, list[str]], filters: Filters
) -> None:
    local = _local(tmp_path, corpus, filters)
    athena, target, _ = _athena(corpus, filters)
    # The local engine lists malformed lines with their text; Athena only counts them.
    assert local.pop("errors") and athena.pop("errors") == []
    assert athena == local
    if filters.since is None:
        assert target.stats.malformed == 1 and target.stats.files == 2


def test_numbers_are_not_trivially_equal(tmp_path: Path, corpus: dict[str, list[str]]) -> None:
    """Near miss: a corpus with one line fewer on the Athena side must not compare equal."""
    local = _local(tmp_path, corpus, Filters())
    fewer = {k: v[:-1] if "20240406" in k else v for k, v in corpus.items()}
    athena, _, _ = _athena(fewer, Filters())
    assert athena["summary"] != local["summary"]


def test_queries_run_in_parallel_waves(corpus: dict[str, list[str]]) -> None:
    _, target, runner = _athena(corpus, Filters())
    assert runner.batches == [4, 6]  # the summary; then the failures and every code's evidence
    assert target.scanned_bytes == 1000 * len(runner.sqls)


def test_partition_predicate_has_a_day_of_margin(corpus: dict[str, list[str]]) -> None:
    since = datetime(2024, 4, 6, 0, 10, tzinfo=UTC)
    _, _, runner = _athena(corpus, Filters(since=since))
    assert "\"day\" >= '2024/04/05'" in runner.sqls[0]
    assert DayRange.around(since, None).predicate() == "day >= '2024/04/05'"


def test_scan_budget_refuses_before_running(corpus: dict[str, list[str]]) -> None:
    con = duckdb.connect()
    load_table(con, corpus)
    runner = DuckRunner(con)
    budget = ScanBudget(per_scan_bytes=2**30, limit_bytes=9 * 2**30)
    target = AthenaTarget(runner, TABLE, DayRange(), budget)
    with pytest.raises(UsageError, match=r"scan about 10\.00 GB"):
        prefetch_diagnosis(target, Filters(), now=NOW, warn_days=30)
    assert runner.sqls == []
    # Near miss: a budget that holds the whole plan runs it.
    target.budget = ScanBudget(per_scan_bytes=2**30, limit_bytes=10 * 2**30)
    prefetch_diagnosis(target, Filters(), now=NOW, warn_days=30)
    assert runner.sqls
