"""``athena ddl``/``athena setup``, and ``--engine athena`` on the commands that read logs.

The orchestration (session, estimate, budget, cost) is the library's
(:mod:`mtls_doctor.athena.session`); this module turns options into settings and shows the
plan and the cost on stderr. boto3 and sqlglot load only when a command runs on Athena.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mtls_doctor.athena.ddl import DEFAULT_DATABASE, DEFAULT_TABLE, create_database_sql
from mtls_doctor.athena.prepare import AthenaTables
from mtls_doctor.athena.session import AthenaSession, AthenaSettings, no_paths, open_session
from mtls_doctor.athena.vended import KINDS, any_table_sql
from mtls_doctor.cli._athena_table import location_options, table_options, table_spec_of
from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from mtls_doctor.diagnose.engine import DiagnoseOptions
    from mtls_doctor.diagnose.model import Diagnosis
    from mtls_doctor.diagnose.overview import Overview
    from mtls_doctor.diagnose.tls import TlsMix
    from mtls_doctor.logs.query import Filters

F = TypeVar("F", bound=Callable[..., Any])


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


@cli.group("athena")
def athena_group() -> None:
    """Query connection logs in S3 with Amazon Athena (table DDL and setup).

    \b
    Example:
      mtls-doctor athena ddl --location s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/
    """


@athena_group.command("ddl")
@location_options
@table_options
def ddl_cmd(
    location: str,
    kind: str,
    projection_start: datetime | None,
    day_path: str,
    column_types: tuple[str, ...],
    database: str,
    table: str | None,
) -> None:
    """Print the CREATE DATABASE and CREATE EXTERNAL TABLE statements for connection logs.

    All 15 fields, partition projection by day over the AWSLogs layout, a regex that keeps
    lines with fields AWS appends later and reads access-log lines as NULL rows. With
    --kind json or parquet, a table over a vended delivery to S3 (JSON lines or Parquet),
    partitioned by the Hive-style year=/month=/day= folders; diagnose, report and logs
    query ask it the same questions (--athena-table-kind, or told from the table).

    \b
    Examples:
      mtls-doctor athena ddl --table conn_logs --projection-start 2024-01-01 \\
        --location s3://logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/
      mtls-doctor athena ddl --kind parquet \\
        --location s3://logs/AWSLogs/aws-account-id=123456789012/elasticloadbalancing/region=eu-west-1/
    """
    spec = table_spec_of(location, kind, database, table, projection_start, day_path, column_types)
    click.echo(f"{create_database_sql(spec)};\n\n{any_table_sql(spec)};")
    finish(ExitCode.OK)


@athena_group.command("setup")
@location_options
@table_options
@_aws_options
@format_option("text", "json")
def setup_cmd(
    location: str,
    kind: str,
    projection_start: datetime | None,
    day_path: str,
    column_types: tuple[str, ...],
    database: str,
    table: str | None,
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

    spec = table_spec_of(location, kind, database, table, projection_start, day_path, column_types)
    client = new_client("athena", profile=profile, region=region)
    runner = AthenaRunner(client, workgroup, output_location=check_output_location(output_location))
    runner.run(create_database_sql(spec))
    runner.run(any_table_sql(spec))
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
                "--athena-table-kind",
                type=click.Choice(("auto", *KINDS)),
                default="auto",
                show_default=True,
                help="[athena] legacy (conn_log files) or json/parquet (a vended delivery, "
                "see athena ddl --kind); auto: told from the table's metadata.",
            ),
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


def pop_settings(options: dict[str, Any]) -> tuple[str, AthenaSettings]:
    """The engine, and the Athena settings taken out of a command's ``**options``.

    ``--profile``/``--region`` are the command's own when :func:`athena_options` added them,
    else those the S3 input options keep aside (``cli._aws_options.profile_region``).
    """
    from mtls_doctor.cli._aws_options import profile_region

    engine = options.pop("engine")
    profile, region = profile_region()
    settings = AthenaSettings(
        workgroup=options.pop("workgroup") or "primary",
        output_location=options.pop("output_location"),
        database=options.pop("athena_database"),
        table=options.pop("athena_table"),
        kind=options.pop("athena_table_kind"),
        max_scan_gb=options.pop("max_scan_gb"),
        price_per_tb=options.pop("price_per_tb"),
        profile=options.get("profile") or profile,
        region=options.get("region") or region,
    )
    if engine == "local" and (settings.max_scan_gb is not None or settings.output_location):
        raise UsageError("--max-scan-gb and --output-location need --engine athena")
    return engine, settings


@contextmanager
def _session(settings: AthenaSettings, filters: Filters, now: datetime) -> Iterator[AthenaSession]:
    """The library's session, with its cost on stderr afterwards."""
    with open_session(settings, filters, now) as session:
        try:
            yield session
        finally:
            # Also after a failed or interrupted run: the queries that ran are billed.
            if session.target.results:
                info(f"athena: {session.cost().describe()}")


def athena_diagnose(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Filters,
    options: DiagnoseOptions,
    db: Any = None,
    *,
    tls: bool = False,
) -> tuple[Diagnosis, TlsMix | None]:
    """``diagnose --engine athena`` (in Python: ``athena.session.diagnose_on_athena``), and
    with ``tls`` its TLS section, from the same one query."""
    result, _, mix = athena_report(settings, paths, filters, options, db, tls=tls)
    return result, mix


@contextmanager
def athena_tls_tables(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Filters,
    now: datetime,
    db: Any = None,
) -> Iterator[AthenaTables]:
    """``policy check --engine athena``: the prepared tables with the TLS handshakes, from
    the diagnosis's one query (the policy questions then cost no query)."""
    from mtls_doctor.cli._output import report_stats

    no_paths(paths, db)
    with _session(settings, filters, now) as session:
        info(f"athena: {session.diagnosis_plan()}")
        tables = session.prepare(30, tls=True)
        report_stats(tables.stats)
        yield tables


def athena_report(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Filters,
    options: DiagnoseOptions,
    db: Any = None,
    *,
    tls: bool = False,
) -> tuple[Diagnosis, Overview, TlsMix | None]:
    """``report --engine athena``: the diagnosis and the overview (and with ``tls`` the TLS
    section), from one set of prepared tables (the overview costs no query)."""
    from mtls_doctor.cli._output import report_stats
    from mtls_doctor.diagnose.tls import tls_mix

    no_paths(paths, db)
    with _session(settings, filters, options.now) as session:
        info(f"athena: {session.diagnosis_plan()}")
        result, top = session.report(options, tls=tls)
        tables = session.opened[-1]
        report_stats(tables.stats)
        return result, top, tls_mix(tables) if tls else None


def athena_logs_query(
    settings: AthenaSettings,
    paths: tuple[str, ...],
    filters: Filters,
    *,
    limit: int | None,
    count_by: tuple[str, ...] | None,
    fmt: str,
    now: datetime,
    db: Any = None,
) -> None:
    """``logs query --engine athena``: one query (rows, or counts), rendered to Trino."""
    from mtls_doctor.cli._output import TABLE_COLUMNS, emit
    from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
    from mtls_doctor.logs.query import check_columns

    no_paths(paths, db)
    columns = check_columns(count_by) if count_by else None  # before anything is billed
    with _session(settings, filters, now) as session:
        info(f"athena: {session.plan(2 if filters.needs_candidates() else 1)}")
        if limit is None and not count_by:
            info("athena: rows come back 1000 per GetQueryResults call; --limit keeps it short")
        if columns:
            counts = session.counts(columns)
            emit(counts.to_dicts(), (*counts.columns, "count"), fmt)
        else:
            rows = session.rows(limit)
            emit(rows, OUTPUT_COLUMNS if fmt != "table" else TABLE_COLUMNS, fmt)
