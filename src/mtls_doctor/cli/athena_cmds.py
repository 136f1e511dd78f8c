"""``athena ddl``/``athena setup``, and the Athena engine behind ``diagnose --engine athena``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click

from mtls_doctor.athena.ddl import (
    DEFAULT_DATABASE,
    DEFAULT_TABLE,
    TableSpec,
    create_database_sql,
    create_table_sql,
)
from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.errors import ExitCode, InputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def _table_options(func: F) -> F:
    for decorator in reversed(
        (
            click.option("--database", default=DEFAULT_DATABASE, show_default=True),
            click.option("--table", default=DEFAULT_TABLE, show_default=True),
        )
    ):
        func = decorator(func)
    return func


def _location_options(func: F) -> F:
    for decorator in reversed(
        (
            click.option(
                "--location",
                required=True,
                help="s3://BUCKET[/PREFIX]/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/",
            ),
            click.option(
                "--projection-start",
                type=click.DateTime(["%Y-%m-%d"]),
                default="2023-01-01",
                show_default=True,
                help="First day folder the table covers (delivery date).",
            ),
        )
    ):
        func = decorator(func)
    return func


def _aws_options(func: F) -> F:
    for decorator in reversed(
        (
            click.option("--workgroup", default="primary", show_default=True),
            click.option(
                "--output-location", help="s3:// folder for query results (else the workgroup's)."
            ),
            click.option("--profile", help="AWS profile (else the standard credential chain)."),
            click.option("--region", help="AWS region of the table and the bucket."),
        )
    ):
        func = decorator(func)
    return func


def _spec(location: str, database: str, table: str, start: datetime) -> TableSpec:
    return TableSpec(location, database, table, start.date())


@cli.group("athena")
def athena_group() -> None:
    """Query connection logs in S3 with Amazon Athena (table DDL and setup).

    \b
    Example:
      mtls-doctor athena ddl --location s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/
    """


@athena_group.command("ddl")
@_location_options
@_table_options
def ddl_cmd(location: str, projection_start: datetime, database: str, table: str) -> None:
    """Print the CREATE DATABASE and CREATE EXTERNAL TABLE statements for connection logs.

    All 15 fields, partition projection by day over the AWSLogs layout, a regex that keeps
    lines with fields AWS appends later and reads access-log lines as NULL rows.

    \b
    Example:
      mtls-doctor athena ddl --table conn_logs --projection-start 2024-01-01 \\
        --location s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/
    """
    spec = _spec(location, database, table, projection_start)
    click.echo(f"{create_database_sql(spec)};\n\n{create_table_sql(spec)};")
    finish(ExitCode.OK)


@athena_group.command("setup")
@_location_options
@_table_options
@_aws_options
@format_option("text", "json")
def setup_cmd(
    location: str,
    projection_start: datetime,
    database: str,
    table: str,
    workgroup: str,
    output_location: str | None,
    profile: str | None,
    region: str | None,
    fmt: str,
) -> None:
    """Create the database and table in Athena, then check them with a LIMIT 1 query.

    Exit 0 when the check query reads a row, 1 when it runs but finds none (wrong location,
    or no logs since --projection-start).

    \b
    Example:
      mtls-doctor athena setup --workgroup primary --region eu-west-1 \\
        --location s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/
    """
    from mtls_doctor.aws.athena import AthenaRunner, check_output_location
    from mtls_doctor.aws.session import new_client

    spec = _spec(location, database, table, projection_start)
    client = new_client("athena", profile=profile, region=region)
    runner = AthenaRunner(client, workgroup, output_location=check_output_location(output_location))
    runner.run(create_database_sql(spec))
    runner.run(create_table_sql(spec))
    check = runner.run(f"SELECT * FROM {spec.qualified} WHERE time IS NOT NULL LIMIT 1")
    result = {**spec.to_dict(), "check_rows": len(check.rows), "check_query_id": check.query_id}
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        state = "reads rows" if check.rows else "is empty (check --location and the dates)"
        click.echo(f"{spec.database}.{spec.table}: created; the table {state}.")
    finish(ExitCode.OK if check.rows else ExitCode.FINDINGS)


def athena_options(func: F) -> F:
    """Options of ``--engine athena`` on commands that read connection logs.

    Apply it last (right under ``@cli.command``), so that it sees the options already there.
    """
    for decorator in reversed(
        (
            click.option(
                "--engine",
                type=click.Choice(["local", "athena"]),
                default="local",
                show_default=True,
                help="Where the queries run: here (DuckDB) or on Amazon Athena.",
            ),
            click.option("--workgroup", help="[athena] Workgroup (default: primary)."),
            click.option("--output-location", help="[athena] s3:// folder for query results."),
            click.option("--athena-database", default=DEFAULT_DATABASE, show_default=True),
            click.option("--athena-table", default=DEFAULT_TABLE, show_default=True),
            click.option(
                "--max-scan-gb",
                type=click.FloatRange(min=0),
                help="[athena] Refuse a query plan estimated to scan more than this.",
            ),
            click.option(
                "--price-per-tb",
                type=click.FloatRange(min=0),
                default=5.0,
                show_default=True,
                help="[athena] USD per TB scanned, for the cost line (published on-demand price).",
            ),
        )
    ):
        func = decorator(func)
    # --profile/--region may already come from the S3 input options; add them only if not.
    taken = {p.name for p in getattr(func, "__click_params__", [])}
    if "profile" not in taken:
        func = click.option("--profile", help="AWS profile.")(func)
    if "region" not in taken:
        func = click.option("--region", help="AWS region.")(func)
    return func


@dataclass(frozen=True)
class AthenaSettings:
    workgroup: str
    output_location: str | None
    database: str
    table: str
    max_scan_gb: float | None
    price_per_tb: float
    profile: str | None
    region: str | None

    @classmethod
    def pop(cls, options: dict[str, Any]) -> tuple[str, AthenaSettings]:
        """The engine, and the Athena settings taken out of a command's ``**options``."""
        engine = options.pop("engine")
        settings = cls(
            workgroup=options.pop("workgroup") or "primary",
            output_location=options.pop("output_location"),
            database=options.pop("athena_database"),
            table=options.pop("athena_table"),
            max_scan_gb=options.pop("max_scan_gb"),
            price_per_tb=options.pop("price_per_tb"),
            profile=options.get("profile"),  # shared with the S3 input options
            region=options.get("region"),
        )
        if engine == "local" and (settings.max_scan_gb is not None or settings.output_location):
            raise UsageError("--max-scan-gb and --output-location need --engine athena")
        return engine, settings


def _make_runner(settings: AthenaSettings) -> Any:
    from mtls_doctor.aws.athena import AthenaRunner, check_output_location
    from mtls_doctor.aws.session import new_client

    client = new_client("athena", profile=settings.profile, region=settings.region)
    return AthenaRunner(
        client, settings.workgroup, output_location=check_output_location(settings.output_location)
    )


def _estimate(settings: AthenaSettings, runner: Any, days: Any, today: date) -> Any:
    from mtls_doctor.aws.athena import estimate_scan, table_location
    from mtls_doctor.aws.session import new_client

    location, start = table_location(runner.client, settings.database, settings.table)
    if not location:
        raise InputError(
            f"table {settings.database}.{settings.table} has no S3 location",
            hint="Create it with 'mtls-doctor athena setup'.",
        )
    s3 = new_client("s3", profile=settings.profile, region=settings.region)
    return estimate_scan(s3, location, days.days(start or date(2023, 1, 1), today))


@contextmanager
def _session(settings: AthenaSettings, filters: Any, now: datetime) -> Iterator[Any]:
    """An AthenaTarget over the days of ``filters``, and the scan estimate; the cost after."""
    from mtls_doctor.athena.dialect import DayRange
    from mtls_doctor.athena.target import GB, AthenaTarget, ScanBudget, cost_usd

    runner = _make_runner(settings)
    days = DayRange.around(filters.since, filters.until)
    estimate = _estimate(settings, runner, days, now.astimezone(UTC).date())
    limit = int(settings.max_scan_gb * GB) if settings.max_scan_gb is not None else None
    table = f'"{settings.database}"."{settings.table}"'
    target = AthenaTarget(runner, table, days, ScanBudget(estimate.bytes, limit))
    try:
        yield target, estimate
    finally:
        # Also after a failed or interrupted run: the queries that ran are billed.
        if target.results:
            scanned = [r.scanned_bytes for r in target.results]
            info(
                f"athena: {len(scanned)} queries scanned {sum(scanned) / GB:.3f} GB, about "
                f"${cost_usd(scanned, settings.price_per_tb):.4f} at ${settings.price_per_tb:g}/TB"
            )


def _announce(settings: AthenaSettings, target: Any, estimate: Any, plan: str, n: int) -> None:
    """The partitions, the estimate per query, and the plan; refuse it if over the limit."""
    from mtls_doctor.athena.target import GB

    parts = [d.strftime("%Y/%m/%d") for d in estimate.days]
    shown = ", ".join(parts) if len(parts) <= 6 else f"{parts[0]} .. {parts[-1]}"
    info(
        f"athena: {settings.database}.{settings.table}: {len(parts)} partition(s) [{shown}], "
        f"{estimate.objects} object(s), {estimate.bytes / GB:.3f} GB per query; {plan}"
    )
    target.budget.check(n)


@contextmanager
def athena_target(
    settings: AthenaSettings,
    filters: Any,
    now: datetime,
    warn_days: int,
    also: Callable[[Any, Any], object] | None = None,
) -> Iterator[Any]:
    """An AthenaTarget with diagnose's queries already run (partitions and cost on stderr).

    ``also(target, filters)`` asks more questions whose text does not depend on earlier
    answers (the report's overview); they run in the first wave.
    """
    from mtls_doctor.athena.target import FIXED_SCANS, planned_queries, prefetch_diagnosis
    from mtls_doctor.diagnose.target import resolve_candidates

    with _session(settings, filters, now) as (target, estimate):
        ask = also or (lambda t, f: None)
        fixed = FIXED_SCANS + len(planned_queries(target, lambda t: ask(t, filters)))
        fixed += 1 if filters.needs_candidates() else 0
        _announce(settings, target, estimate, f"{fixed} queries", fixed)
        selected = resolve_candidates(target, filters)
        extra = planned_queries(target, lambda t: ask(t, selected))
        prefetch_diagnosis(target, selected, now=now, warn_days=warn_days, also=extra)
        yield target, selected


def _no_paths(paths: tuple[str, ...], db: Any = None) -> None:
    if paths or db is not None:
        raise UsageError(
            "--engine athena reads the Athena table, not PATHS or --db",
            hint="Drop the PATHS (or --db), or drop --engine athena to read them here.",
        )


def athena_diagnose(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Any,
    options: Any,
    db: Any = None,
) -> Any:
    """``diagnose --engine athena``: the same Diagnosis, from the Athena table."""
    from mtls_doctor.cli._output import report_stats
    from mtls_doctor.diagnose.engine import diagnose

    _no_paths(paths, db)
    with athena_target(settings, filters, options.now, options.warn_days) as (target, selected):
        report_stats(target.stats)
        return diagnose(_source(target, selected, options), selected, options)


def _source(target: Any, filters: Any, options: Any) -> Any:
    """diagnose's Source over the Athena rows (each question reads them again)."""
    from mtls_doctor.diagnose.source import RowsSource, Scope

    return RowsSource(target, Scope.of(filters, options.now, options.warn_days))


def athena_report(
    settings: AthenaSettings, paths: tuple[str, ...], filters: Any, options: Any, db: Any = None
) -> tuple[Any, Any]:
    """``report --engine athena``: the Diagnosis and the overview, from the Athena table."""
    from mtls_doctor.cli._output import report_stats
    from mtls_doctor.diagnose.engine import diagnose
    from mtls_doctor.diagnose.overview import overview

    _no_paths(paths, db)
    now, warn_days = options.now, options.warn_days

    def tops(target: Any, selected: Any) -> Any:
        return overview(_source(target, selected, options))

    with athena_target(settings, filters, now, warn_days, also=tops) as (target, selected):
        report_stats(target.stats)
        source = _source(target, selected, options)
        return diagnose(source, selected, options), overview(source)


def athena_logs_query(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Any,
    *,
    limit: int | None,
    count_by: tuple[str, ...] | None,
    fmt: str,
    now: datetime,
    db: Any = None,
) -> None:
    """``logs query --engine athena``: one query (rows, or counts), rendered to Trino."""
    from mtls_doctor.athena.target import count_rows, select_rows
    from mtls_doctor.cli._output import TABLE_COLUMNS, emit
    from mtls_doctor.diagnose.target import resolve_candidates
    from mtls_doctor.logs.fields import OUTPUT_COLUMNS
    from mtls_doctor.logs.query import check_columns

    _no_paths(paths, db)
    columns = check_columns(count_by) if count_by else None  # before anything is billed
    with _session(settings, filters, now) as (target, estimate):
        n = 2 if filters.needs_candidates() else 1
        _announce(settings, target, estimate, f"{n} quer{'ies' if n > 1 else 'y'}", n)
        if limit is None and not count_by:
            info("athena: rows come back 1000 per GetQueryResults call; --limit keeps it short")
        selected = resolve_candidates(target, filters)
        if columns:
            counts = count_rows(target, selected, columns)
            emit(counts.to_dicts(), (*counts.columns, "count"), fmt)
        else:
            rows = select_rows(target, selected, limit=limit)
            emit(rows, OUTPUT_COLUMNS if fmt != "table" else TABLE_COLUMNS, fmt)
