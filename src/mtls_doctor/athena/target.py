"""diagnose's :class:`~mtls_doctor.diagnose.target.QueryTarget`, answered by Athena.

:class:`AthenaTarget` renders each DuckDB-dialect query to Trino SQL (:func:`.dialect.render`)
and hands it to a :class:`QueryRunner` (the boto3 flow in :mod:`mtls_doctor.aws.athena`, or a
local stand-in in tests). Diagnose asks its questions one by one; :func:`prefetch_diagnosis`
asks the same questions ahead of it, in three waves of parallel queries, so that diagnose
then reads every answer from the cache. A query it did not foresee still runs, just alone.
The report's overview joins the first wave (:func:`planned_queries` records its text), and
``logs query`` runs one query (:func:`select_rows` or :func:`count_rows`) built from the
local engine's ``rows_sql``/``count_sql``.

Every Athena query reads the whole of its partitions (text logs have no column pruning), so
the cost is (bytes under the day folders) x (number of queries); :class:`ScanBudget` refuses
a query that would take the estimate past ``--max-scan-gb``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from mtls_doctor.athena.dialect import DERIVED, DayRange, relation_sql, render, stats_sql
from mtls_doctor.diagnose import queries as q
from mtls_doctor.errors import UsageError
from mtls_doctor.logs.api import Counts, ReadStats, export_row
from mtls_doctor.logs.query import Filters, check_columns, count_sql, rows_sql
from mtls_doctor.timeutil import to_naive_utc

# Published on-demand price per TB scanned (https://aws.amazon.com/athena/pricing/), with
# its 10 MB minimum per query. A setting (--price-per-tb) because prices vary by region and
# change. UNCONFIRMED: not in our spec; that "TB" means 2**40 bytes (as in AWS billing).
DEFAULT_PRICE_PER_TB = 5.0
MIN_BILLED_BYTES = 10 * 2**20
TB = 2**40
GB = 2**30
# Queries diagnose runs: stats, summary, by-status, expiring, then top clients, top
# certificates, two timelines, the per-code counts and the per-code evidence.
FIXED_SCANS = 10
# `logs query` rows: Athena returns ties in any order, so they are broken down to the file.
ROW_ORDER = "timestamp, conn_trace_id, source_file"

Query = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class QueryResult:
    """Rows of one finished query and what Athena says it read."""

    rows: list[tuple[Any, ...]]
    scanned_bytes: int = 0
    query_id: str = ""


class QueryRunner(Protocol):
    """Runs Trino SQL; ``run_many`` runs its queries in parallel and stops them on Ctrl-C."""

    def run(self, sql: str) -> QueryResult: ...

    def run_many(self, sqls: Sequence[str]) -> list[QueryResult]: ...


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
    """A QueryTarget over the derived rows of the Athena table, for the days in ``days``."""

    runner: QueryRunner
    table: str  # "database"."table"
    days: DayRange
    budget: ScanBudget = field(default_factory=lambda: ScanBudget(0))
    stats: ReadStats = field(default_factory=ReadStats)
    results: list[QueryResult] = field(default_factory=list)
    _cache: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def relation(self) -> str:
        return relation_sql(self.table, self.days)

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        text = render(sql, params)
        if text not in self._cache:
            self.budget.take(1)
            self._keep(text, self.runner.run(text))
        return self._cache[text]

    def prefetch(self, queries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Run ``queries`` (DuckDB text, params) in parallel and keep their rows for fetch."""
        texts = list(dict.fromkeys(render(sql, params) for sql, params in queries))
        todo = [t for t in texts if t not in self._cache]
        if not todo:
            return
        self.budget.take(len(todo))
        for text, result in zip(todo, self.runner.run_many(todo), strict=True):
            self._keep(text, result)

    def _keep(self, text: str, result: QueryResult) -> None:
        self._cache[text] = result.rows
        self.results.append(result)

    def read_stats(self) -> ReadStats:
        """Files, malformed, extra-field and unknown-code lines in the partitions read."""
        files, malformed, extra, unknown = self.fetch(stats_sql(self.table, self.days))[0]
        self.stats = ReadStats(
            files=int(files),
            malformed=int(malformed),
            extra_field_lines=int(extra),
            unknown_code_lines=int(unknown),
        )
        return self.stats

    @property
    def scanned_bytes(self) -> int:
        return sum(r.scanned_bytes for r in self.results)


class _Plan:
    """The text diagnose will ask for, built exactly as its engine builds it."""

    def __init__(self, target: AthenaTarget, filters: Filters) -> None:
        self.target = target
        self.where, self.params = filters.where()

    def query(
        self, template: str, extra: dict[str, Any] | None = None, **fmt: str
    ) -> tuple[str, dict[str, Any]]:
        sql = template.format(rel=self.target.relation, where=self.where, **q.ROW_SHAPE, **fmt)
        return sql, {**self.params, **(extra or {})}


def prefetch_diagnosis(
    target: AthenaTarget,
    filters: Filters,
    *,
    now: Any,
    warn_days: int,
    also: Sequence[Query] = (),
) -> None:
    """Ask diagnose's questions ahead of it: two waves of parallel Athena queries.

    ``also`` (e.g. the report's overview, from :func:`planned_queries`) joins the first wave.
    """
    plan = _Plan(target, filters)
    horizon = to_naive_utc(now) + timedelta(days=warn_days)
    summary_q = plan.query(q.SUMMARY)
    target.budget.check(FIXED_SCANS + len(also))
    target.prefetch(
        [
            (stats_sql(target.table, target.days), {}),
            summary_q,
            plan.query(q.BY_STATUS),
            plan.query(q.EXPIRING, {"horizon": horizon}),
            *also,
        ]
    )
    target.read_stats()
    summary = target.fetch(*summary_q)[0]
    if not summary[3]:  # no failures: diagnose asks nothing more
        return
    target.prefetch(
        [
            plan.query(q.TOP_CLIENTS),
            plan.query(q.TOP_CERTIFICATES),
            plan.query(q.TIMELINE, unit="minute"),  # the engine sums minutes up to a unit
            plan.query(q.TLS_TIMELINE, unit="minute"),
            plan.query(q.PER_CODE),
            plan.query(q.CODE_CERTIFICATES),
        ]
    )


class _Recorder:
    """A query target that answers every question with no rows and notes the question."""

    def __init__(self, relation: str, stats: ReadStats) -> None:
        self.relation = relation
        self.stats = stats
        self.asked: list[Query] = []

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.asked.append((sql, dict(params or {})))
        return []


def planned_queries(target: AthenaTarget, ask: Callable[[Any], object]) -> list[Query]:
    """The queries ``ask(some_target)`` sends, without running them, so that they can join a
    parallel wave. Only for askers whose questions do not depend on earlier answers (the
    report's overview): the text then is exactly what they will ask later."""
    recorder = _Recorder(target.relation, target.stats)
    ask(recorder)
    return recorder.asked


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
