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
from mtls_doctor.athena.prepare import AthenaTables
from mtls_doctor.athena.target import AthenaTarget, ScanBudget, planned_scans, prepare
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.errors import UsageError
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from tests.athena.fakeathena import TABLE, DuckRunner, load_table
from tests.diagnose.corpus import NOW, T0
from tests.diagnose.reference import reference


def write_files(tmp_path: Path, corpus: dict[str, list[str]]) -> list[str]:
    paths = []
    for key, lines in corpus.items():
        if "conn_log" not in key:
            continue
        path = tmp_path / "local" / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        paths.append(str(path))
    return paths


def _local(
    tmp_path: Path, corpus: dict[str, list[str]], filters: Filters, *, scoped: bool
) -> dict[str, Any]:
    """Diagnose of the same lines as files: read for this one diagnosis (the prepared
    tables, as Athena's) or the engine's questions asked of every row."""
    paths = write_files(tmp_path, corpus)
    scope = Scope.of(filters, NOW, 30)
    with open_target(paths, db=None, scope=scope) as target:
        out = diagnose(target, filters, DiagnoseOptions(NOW)).to_dict()
        stats = target.stats
    return out if scoped else reference(paths, filters, DiagnoseOptions(NOW), stats)


def athena_tables(
    corpus: dict[str, list[str]], filters: Filters, budget: ScanBudget | None = None
) -> tuple[AthenaTables, DuckRunner]:
    """The prepared tables of ``filters``, from the stand-in, and the runner (its queries)."""
    con = duckdb.connect()
    load_table(con, corpus)
    runner = DuckRunner(con)
    target = AthenaTarget(runner, TABLE, DayRange.around(filters.since, filters.until))
    if budget is not None:
        target.budget = budget
    return prepare(target, filters, now=NOW, warn_days=30), runner


def _athena(corpus: dict[str, list[str]], filters: Filters) -> tuple[dict[str, Any], DuckRunner]:
    tables, runner = athena_tables(corpus, filters)
    asked = len(runner.sqls)
    result = diagnose(tables, tables.prepared.scope.filters, DiagnoseOptions(NOW)).to_dict()
    assert len(runner.sqls) == asked, "diagnose asked Athena after the prepared tables"
    return result, runner


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
    athena, runner = _athena(corpus, filters)
    # At most two reads of the partitions: one, and one to resolve an IPv6 block.
    assert runner.scans == len(runner.sqls) == planned_scans(filters) <= 2
    assert runner.scans == (2 if filters.client and filters.client.version == 6 else 1)
    # The local engine lists malformed lines with their text; Athena only counts them.
    assert athena.pop("errors") == []
    for scoped in (True, False):
        local = _local(tmp_path, corpus, filters, scoped=scoped)
        assert local.pop("errors")
        assert athena == local, f"scoped={scoped}"


def test_read_statistics_cover_every_line_of_the_partitions(corpus: dict[str, list[str]]) -> None:
    tables, _ = athena_tables(corpus, Filters(status=parse_status("ClientCertExpired")))
    stats = tables.stats
    assert (stats.files, stats.malformed, stats.rows) == (2, 1, 90)
    assert (stats.extra_field_lines, stats.unknown_code_lines) == (1, 1)


def test_numbers_are_not_trivially_equal(tmp_path: Path, corpus: dict[str, list[str]]) -> None:
    """Near miss: a corpus with one line fewer on the Athena side must not compare equal."""
    local = _local(tmp_path, corpus, Filters(), scoped=True)
    fewer = {k: v[:-1] if "20240406" in k else v for k, v in corpus.items()}
    athena, _ = _athena(fewer, Filters())
    assert athena["summary"] != local["summary"]


def test_partition_predicate_has_a_day_of_margin(corpus: dict[str, list[str]]) -> None:
    since = datetime(2024, 4, 6, 0, 10, tzinfo=UTC)
    _, runner = _athena(corpus, Filters(since=since))
    assert "\"day\" >= '2024/04/05'" in runner.sqls[0]
    assert DayRange.around(since, None).predicate() == "day >= '2024/04/05'"


def test_scan_budget_refuses_before_running(corpus: dict[str, list[str]]) -> None:
    budget = ScanBudget(per_scan_bytes=2**30, limit_bytes=2**29)
    with pytest.raises(UsageError, match=r"scan about 1\.00 GB \(1 queries"):
        athena_tables(corpus, Filters(), budget)
    # An IPv6 block costs a second scan, counted before the first one starts.
    v6 = Filters(client=parse_client("2001:db8::/32"))
    budget = ScanBudget(per_scan_bytes=2**30, limit_bytes=int(1.5 * 2**30))
    with pytest.raises(UsageError, match=r"scan about 2\.00 GB"):
        athena_tables(corpus, v6, budget)
    # Near miss: a budget that holds the plan runs it.
    _, runner = athena_tables(corpus, v6, ScanBudget(per_scan_bytes=2**30, limit_bytes=2**31))
    assert runner.scans == 2
