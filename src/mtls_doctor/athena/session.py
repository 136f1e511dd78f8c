"""One command's use of Athena: settings, the partitions and their estimate, the budget, cost.

The library twin of ``diagnose --engine athena`` (docs/athena.md, "In Python")::

    from mtls_doctor.athena.session import AthenaSettings, diagnose_on_athena
    run = diagnose_on_athena(AthenaSettings(region="eu-west-1"), filters, DiagnoseOptions(now))
    run.diagnosis, run.overview, run.estimate, run.cost

:class:`AthenaSession` is the step-by-step form the CLI uses (it shows the plan before the
query runs, and the cost after, also when a query failed). Nothing here prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from mtls_doctor.athena.ddl import DEFAULT_DATABASE, DEFAULT_TABLE
from mtls_doctor.athena.dialect import DayRange
from mtls_doctor.athena.prepare import AthenaTables
from mtls_doctor.athena.target import (
    DEFAULT_PRICE_PER_TB,
    GB,
    AthenaTarget,
    QueryRunner,
    ScanBudget,
    cost_usd,
    count_rows,
    planned_scans,
    prepare,
    select_rows,
)
from mtls_doctor.athena.vended import KINDS, kind_of
from mtls_doctor.aws.athena import DAY_FORMAT, ScanEstimate
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.diagnose.overview import Overview, overview
from mtls_doctor.errors import InputError, UsageError
from mtls_doctor.logs.api import Counts
from mtls_doctor.logs.query import Filters

# With no projection start in the table's metadata, the estimate lists days from here.
FALLBACK_START = date(2023, 1, 1)


@dataclass(frozen=True)
class AthenaSettings:
    """Where the table is and how to reach it. ``profile``/``region`` None: boto3's usual
    sources (AWS_PROFILE, AWS_DEFAULT_REGION, ...)."""

    workgroup: str = "primary"
    output_location: str | None = None
    database: str = DEFAULT_DATABASE
    table: str = DEFAULT_TABLE
    max_scan_gb: float | None = None
    price_per_tb: float = DEFAULT_PRICE_PER_TB
    profile: str | None = None
    region: str | None = None
    # legacy (RegexSerDe over conn_log files), json or parquet (vended deliveries, see
    # athena.vended), or auto: told from the table's metadata when the estimate reads it.
    kind: str = "auto"

    @property
    def qualified(self) -> str:
        return f'"{self.database}"."{self.table}"'

    @property
    def limit_bytes(self) -> int | None:
        return None if self.max_scan_gb is None else int(self.max_scan_gb * GB)


@dataclass(frozen=True)
class Cost:
    """What the queries that ran read, as Athena reports it, and what that costs."""

    queries: int
    scanned_bytes: int
    usd: float
    price_per_tb: float

    def describe(self) -> str:
        return (
            f"{self.queries} queries scanned {self.scanned_bytes / GB:.3f} GB, about "
            f"${self.usd:.4f} at ${self.price_per_tb:g}/TB"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "queries": self.queries,
            "scanned_bytes": self.scanned_bytes,
            "usd": self.usd,
            "price_per_tb": self.price_per_tb,
        }


def make_runner(settings: AthenaSettings) -> Any:
    """The boto3 runner for ``settings`` (its ``client`` also reads the table's metadata)."""
    from mtls_doctor.aws.athena import AthenaRunner, check_output_location
    from mtls_doctor.aws.session import new_client

    client = new_client("athena", profile=settings.profile, region=settings.region)
    return AthenaRunner(
        client, settings.workgroup, output_location=check_output_location(settings.output_location)
    )


def estimate_partitions(
    settings: AthenaSettings, runner: Any, days: DayRange, today: date
) -> ScanEstimate:
    """What one query over ``days`` reads: the objects under those day folders (S3 listing),
    and the table's kind as its metadata tells it."""
    from mtls_doctor.aws.athena import estimate_scan, table_info
    from mtls_doctor.aws.session import new_client

    info = table_info(runner.client, settings.database, settings.table)
    if not info.location:
        raise InputError(
            f"table {settings.database}.{settings.table} has no S3 location",
            hint="Create it with 'mtls-doctor athena setup'.",
        )
    s3 = new_client("s3", profile=settings.profile, region=settings.region)
    picked = days.days(info.start or FALLBACK_START, today)
    scan = estimate_scan(s3, info.location, picked, day_format=info.day_format)
    return replace(scan, table_kind=kind_of(info.parameters))


def table_kind(settings: AthenaSettings, scan: ScanEstimate) -> str:
    """The kind the queries are written for: the one asked for, else the one the table's
    metadata tells (legacy when it tells none); a kind that contradicts the metadata is
    refused before any query runs."""
    told = scan.table_kind
    if settings.kind == "auto":
        return told or "legacy"
    if settings.kind not in KINDS:
        raise UsageError(f"--athena-table-kind {settings.kind!r}: one of auto, {', '.join(KINDS)}")
    if told is not None and told != settings.kind:
        raise UsageError(
            f"{settings.database}.{settings.table} is a {told} table (its metadata), "
            f"not {settings.kind}",
            hint="Drop --athena-table-kind (auto reads the kind from the table), or name "
            "the right table.",
        )
    return settings.kind


# (settings, runner, days, today) -> what one query over those days reads.
Estimator = Callable[[AthenaSettings, Any, DayRange, date], ScanEstimate]


@dataclass
class AthenaSession:
    """The partitions ``filters`` select, their estimate, and the queries run against them."""

    settings: AthenaSettings
    filters: Filters
    now: datetime
    estimate: ScanEstimate
    target: AthenaTarget
    opened: list[AthenaTables] = field(default_factory=list)

    def plan(self, queries: int) -> str:
        """The partitions, the bytes per query and ``queries``; raises UsageError (nothing
        run) when that plan would read past ``max_scan_gb``."""
        parts = [d.strftime(DAY_FORMAT) for d in self.estimate.days]
        shown = ", ".join(parts) if len(parts) <= 6 else f"{parts[0]} .. {parts[-1]}"
        self.target.budget.check(queries)
        word = "query" if queries == 1 else "queries"
        kind = "" if self.target.kind == "legacy" else f" (vended {self.target.kind})"
        return (
            f"{self.settings.database}.{self.settings.table}{kind}: {len(parts)} partition(s) "
            f"[{shown}], {self.estimate.objects} object(s), "
            f"{self.estimate.bytes / GB:.3f} GB per query; {queries} {word}"
        )

    def diagnosis_plan(self) -> str:
        return self.plan(planned_scans(self.filters))

    def prepare(self, warn_days: int, *, tls: bool = False) -> AthenaTables:
        """The prepared tables of the diagnosis of :attr:`filters` (one Athena query; two
        with an IPv6 block), with ``tls`` the TLS handshakes too. Diagnose, the report's
        overview and the policy questions ask them locally."""
        tables = prepare(self.target, self.filters, now=self.now, warn_days=warn_days, tls=tls)
        self.opened.append(tables)
        if not tables.stats.rows:  # "no failures" only when connections were read
            raise InputError(
                f"{self.settings.database}.{self.settings.table}: no connection-log line in "
                f"the {len(self.estimate.days)} partition(s) read",
                hint="Check --since/--until, and the table's location (mtls-doctor athena "
                "setup checks it).",
            )
        return tables

    def diagnose(self, options: DiagnoseOptions) -> Diagnosis:
        return self.report(options)[0]

    def report(self, options: DiagnoseOptions, *, tls: bool = False) -> tuple[Diagnosis, Overview]:
        """The diagnosis and the report's overview, from one set of prepared tables (with
        ``tls``, the TLS handshakes too: ``tls_mix(self.opened[-1])``)."""
        tables = self.prepare(options.warn_days, tls=tls)
        return diagnose(tables, tables.prepared.scope.filters, options), overview(tables)

    def rows(self, limit: int | None) -> list[dict[str, Any]]:
        """``logs query`` rows (one query; two with an IPv6 block)."""
        from mtls_doctor.diagnose.target import resolve_candidates

        return select_rows(self.target, resolve_candidates(self.target, self.filters), limit=limit)

    def counts(self, columns: Sequence[str]) -> Counts:
        """``logs query --count-by`` (one query; two with an IPv6 block)."""
        from mtls_doctor.diagnose.target import resolve_candidates

        return count_rows(self.target, resolve_candidates(self.target, self.filters), columns)

    def cost(self) -> Cost:
        scanned = [r.scanned_bytes for r in self.target.results]
        price = self.settings.price_per_tb
        return Cost(len(scanned), sum(scanned), cost_usd(scanned, price), price)

    def close(self) -> None:
        for tables in self.opened:
            tables.close()
        self.opened.clear()


@contextmanager
def open_session(
    settings: AthenaSettings,
    filters: Filters,
    now: datetime,
    *,
    runner: QueryRunner | None = None,
    estimate: Estimator | None = None,
) -> Iterator[AthenaSession]:
    """A session over the partitions of ``filters`` (``--since``/``--until`` with a day of
    margin), estimated by listing them; ``runner``/``estimate`` replace the boto3 ones."""
    runner = runner if runner is not None else make_runner(settings)
    days = DayRange.around(filters.since, filters.until)
    measure = estimate or estimate_partitions
    scan = measure(settings, runner, days, now.astimezone(UTC).date())
    target = AthenaTarget(
        runner,
        settings.qualified,
        days,
        ScanBudget(scan.bytes, settings.limit_bytes),
        kind=table_kind(settings, scan),
    )
    session = AthenaSession(settings, filters, now, scan, target)
    try:
        yield session
    finally:
        session.close()


@dataclass(frozen=True)
class AthenaDiagnosis:
    """A diagnosis on Athena and the report's overview, with the estimate it was planned on
    and what it cost."""

    diagnosis: Diagnosis
    overview: Overview
    estimate: ScanEstimate
    cost: Cost


def diagnose_on_athena(
    settings: AthenaSettings,
    filters: Filters,
    options: DiagnoseOptions,
    *,
    runner: QueryRunner | None = None,
    estimate: Estimator | None = None,
) -> AthenaDiagnosis:
    """``diagnose --engine athena`` (and ``report``'s overview) as a function: one Athena
    query (two with an IPv6 block), refused before it runs (UsageError) when over
    ``settings.max_scan_gb``."""
    with open_session(settings, filters, options.now, runner=runner, estimate=estimate) as session:
        session.diagnosis_plan()
        result, top = session.report(options)
        return AthenaDiagnosis(result, top, session.estimate, session.cost())


def no_paths(paths: Sequence[str], db: object = None) -> None:
    """The Athena engine reads the table, never local PATHS or a store."""
    if paths or db is not None:
        raise UsageError(
            "--engine athena reads the Athena table, not PATHS or --db",
            hint="Drop the PATHS (or --db), or drop --engine athena to read them here.",
        )
