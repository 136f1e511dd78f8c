"""Queries over the Athena table, each counted against a scan budget.

:class:`AthenaTarget` renders DuckDB-dialect text to Trino SQL (:func:`.dialect.render`) and
hands it to a :class:`QueryRunner` (the boto3 flow in :mod:`mtls_doctor.aws.athena`, or a
local stand-in in tests). A diagnosis asks it one question, :func:`prepare`, whose answer
(the prepared tables, :mod:`.prepare`) is then asked locally; ``logs query`` asks one
(:func:`select_rows` or :func:`count_rows`) built from the local engine's
``rows_sql``/``count_sql``. An IPv6 block in the client filter asks one more first.

Every Athena query reads the whole of its partitions (text logs have no column pruning), so
the cost is (bytes under the day folders) x (number of queries); :class:`ScanBudget` refuses
a query that would take the estimate past ``--max-scan-gb``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mtls_doctor.athena.dialect import DERIVED, DayRange, relation_sql, render
from mtls_doctor.athena.prepare import DIAGNOSIS_SCANS, AthenaTables, prepared_query
from mtls_doctor.aws.athena import QueryResult
from mtls_doctor.diagnose.target import Scope, resolve_candidates
from mtls_doctor.errors import UsageError
from mtls_doctor.logs.api import Counts, ReadStats, export_row
from mtls_doctor.logs.query import Filters, check_columns, count_sql, rows_sql

# Published on-demand price per TB scanned (https://aws.amazon.com/athena/pricing/), with
# its 10 MB minimum per query. A setting (--price-per-tb) because prices vary by region and
# change. UNCONFIRMED: not in our spec; that "TB" means 2**40 bytes (as in AWS billing).
DEFAULT_PRICE_PER_TB = 5.0
MIN_BILLED_BYTES = 10 * 2**20
TB = 2**40
GB = 2**30
# `logs query` rows: Athena returns ties in any order, so they are broken down to the file.
ROW_ORDER = "timestamp, conn_trace_id, source_file"

__all__ = ["AthenaTarget", "QueryResult", "QueryRunner", "ScanBudget", "prepare"]


class QueryRunner(Protocol):
    """Runs Trino SQL, and stops it on Ctrl-C."""

    def run(self, sql: str) -> QueryResult: ...


def cost_usd(scanned: Iterable[int], price_per_tb: float) -> float:
    """What on-demand Athena charges for queries that read ``scanned`` bytes each."""
    return sum(max(b, MIN_BILLED_BYTES) for b in scanned) / TB * price_per_tb


@dataclass
class ScanBudget:
    """The scan estimate per query, and the limit the user set (None = no limit)."""

    per_scan_bytes: int
    limit_bytes: int | None = None
    started: int = 0

    def check(self, more: int) -> None:
        """Refuse before ``more`` queries start if the plan would read past the limit."""
        if self.limit_bytes is None:
            return
        planned = (self.started + more) * self.per_scan_bytes
        if planned > self.limit_bytes:
            raise UsageError(
                f"the query plan would scan about {planned / GB:.2f} GB "
                f"({self.started + more} queries x {self.per_scan_bytes / GB:.2f} GB), "
                f"over --max-scan-gb {self.limit_bytes / GB:g}",
                hint="Narrow --since/--until, or raise --max-scan-gb.",
            )

    def take(self, count: int) -> None:
        self.check(count)
        self.started += count


@dataclass
class AthenaTarget:
    """The derived rows of the Athena table, for the days in ``days``; every query run is
    kept in ``results`` (what it scanned, its ID) and counted against ``budget``."""

    runner: QueryRunner
    table: str  # "database"."table"
    days: DayRange
    budget: ScanBudget = field(default_factory=lambda: ScanBudget(0))
    kind: str = "legacy"  # the table's: legacy, or vended json/parquet (athena.vended)
    # Not counted here (that would take a scan): a diagnosis reads its statistics from the
    # prepared tables, ``logs query`` reports none.
    stats: ReadStats = field(default_factory=ReadStats)
    results: list[QueryResult] = field(default_factory=list)
    _cache: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    relation: str = field(init=False)

    def __post_init__(self) -> None:
        self.relation = relation_sql(self.table, self.days, self.kind)

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        text = render(sql, params)
        if text not in self._cache:
            self.budget.take(1)
            self._keep(text, self.runner.run(text))
        return self._cache[text]

    def _keep(self, text: str, result: QueryResult) -> None:
        self._cache[text] = result.rows
        self.results.append(result)

    @property
    def scanned_bytes(self) -> int:
        return sum(r.scanned_bytes for r in self.results)


def planned_scans(filters: Filters) -> int:
    """Athena queries a diagnosis of ``filters`` runs: one, and one more to resolve an IPv6
    block (``Filters.needs_candidates``)."""
    return DIAGNOSIS_SCANS + (1 if filters.needs_candidates() else 0)


def prepare(
    target: AthenaTarget, filters: Filters, *, now: datetime, warn_days: int, tls: bool = False
) -> AthenaTables:
    """The prepared tables of one diagnosis of ``filters`` (with ``tls``, the TLS handshakes
    too), in at most two Athena queries; ask them with
    ``diagnose(tables, tables.prepared.scope.filters, ...)``."""
    target.budget.check(planned_scans(filters))
    selected = resolve_candidates(target, filters)
    scope = Scope.of(selected, now, warn_days, tls=tls)
    query = prepared_query(target.table, target.days, scope, target.kind)
    return AthenaTables(target.fetch(*query), scope)


def select_rows(
    target: AthenaTarget, filters: Filters, *, limit: int | None
) -> list[dict[str, Any]]:
    """``logs query`` rows, oldest first, in the output contract (``source_file`` is the
    object's s3:// URI)."""
    where, params = filters.where()
    rows = target.fetch(rows_sql(target.relation, where, limit=limit, order=ROW_ORDER), params)
    # The relation's columns are DERIVED's, in order (relation_sql).
    return [export_row(dict(zip(DERIVED, row, strict=True))) for row in rows]


def count_rows(target: AthenaTarget, filters: Filters, columns: Sequence[str]) -> Counts:
    """``logs query --count-by``: counts per value of ``columns``, most frequent first."""
    cols = check_columns(columns)  # they are written into the SQL text
    where, params = filters.where()
    rows = target.fetch(count_sql(target.relation, where, cols), params)
    return Counts(cols, tuple(tuple(r) for r in rows))
