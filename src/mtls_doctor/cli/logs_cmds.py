"""``ingest``, ``logs query`` and ``sql``: connection logs into DuckDB, and back out."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._aws_options import remote_openers, s3_ingest_options
from mtls_doctor.cli._base import cli, finish, format_option, info, warn
from mtls_doctor.cli._options import build_filters, filter_options, input_options, resolve_db
from mtls_doctor.cli.athena_cmds import AthenaSettings, athena_logs_query, athena_options
from mtls_doctor.errors import ExitCode, LogFormatError
from mtls_doctor.logs.api import ReadStats, export_row, open_selection
from mtls_doctor.logs.fields import OUTPUT_COLUMNS
from mtls_doctor.logs.ingest import ingest_inputs, run_sql
from mtls_doctor.logs.query import check_columns
from mtls_doctor.logs.store import default_db_path
from mtls_doctor.report.tabular import iter_csv, iter_json_array, iter_jsonl, render_table

TABLE_COLUMNS = (
    "timestamp",
    "client_ip",
    "listener_port",
    "tls_protocol",
    "leaf_client_cert_subject",
    "leaf_client_cert_serial_number",
    "tls_verify_status",
)
TABLE_ROW_LIMIT = 10_000


def report_stats(stats: ReadStats, max_lines: int = 20) -> None:
    """The human summary of what reading found, on stderr."""
    for name in stats.skipped_unknown[:max_lines]:
        warn(f"{name}: not a connection-log name (conn_log_...); skipped")
    if len(stats.skipped_unknown) > max_lines:
        warn(f"... and {len(stats.skipped_unknown) - max_lines} more files skipped")
    for fault in stats.faults:
        if fault.complete:
            warn(f"{fault.file}: {fault.message}; all {fault.lines_read} lines read")
        else:
            warn(f"{fault.file}: {fault.message}; read {fault.lines_read} lines before the fault")
    for issue in stats.issues[:max_lines]:
        where = f"{issue.file}:{issue.line}" if issue.line else issue.file
        warn(f"{where}: malformed line skipped: {issue.message}")
    if stats.malformed:
        info(f"{stats.malformed} malformed line(s) skipped")
    if stats.extra_field_lines:
        info(
            f"{stats.extra_field_lines} line(s) had more than 15 fields (newer format); "
            "the extra fields were ignored"
        )
    if stats.unknown_code_lines:
        info(f"{stats.unknown_code_lines} line(s) carry a Failed: code that is not documented")


def _write(chunks: Iterable[str]) -> None:
    for chunk in chunks:
        click.echo(chunk, nl=False)


def emit(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> None:
    """Write rows to stdout in ``fmt`` (the one place that picks a tabular renderer)."""
    if fmt == "jsonl":
        _write(iter_jsonl(rows))
    elif fmt == "json":
        _write(iter_json_array(rows))
    elif fmt == "csv":
        _write(iter_csv(rows, columns))
    else:
        listed = []
        for row in rows:
            listed.append(row)
            if len(listed) >= TABLE_ROW_LIMIT:
                warn(f"table output stops at {TABLE_ROW_LIMIT} rows; use --format csv or jsonl")
                break
        _write([render_table(listed, columns)])


@cli.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Store file (default: {default_db_path()}; or $MTLS_DOCTOR_DB).",
)
@click.option("--strict", is_flag=True, help="Stop with exit 3 at the first malformed line.")
@s3_ingest_options
@format_option("text", "json")
def ingest(paths: tuple[str, ...], db: Path | None, strict: bool, fmt: str) -> None:
    """Load connection logs into a DuckDB store (idempotent; whole files only).

    PATHS are files (.log.gz or plain), folders (read recursively; only conn_log_* names),
    globs, or - for stdin. Ingesting the same files again adds nothing. With no PATHS it
    only creates or upgrades the store. s3://bucket[/prefix] reads the ALB's S3 layout and
    fetches only objects the store does not hold in their current version (see docs/aws.md).
    An input that cannot be read in whole is named, the others are stored, and the exit
    code is 3.

    \b
    Example:
      mtls-doctor ingest logs/ --db incident.duckdb
      mtls-doctor ingest s3://my-alb-logs/web --since 1h --region eu-west-1
    """
    target = db or default_db_path()
    result = ingest_inputs(
        list(paths),
        target,
        stdin=sys.stdin.buffer,
        strict=strict,
        progress=info if sys.stderr.isatty() else None,
        openers=remote_openers(),
    )
    report_stats(result.stats)
    if fmt == "json":
        _write([result.to_json()])
    else:
        for item in result.files:
            _write([f"{item.status:9} {item.rows:8} rows  {item.source}\n"])
    info(
        f"{result.read_whole} of {result.inputs} inputs read; "
        f"{result.added_rows} rows added from {result.added_files} new file(s); "
        f"{result.unchanged_files} file(s) already stored; store: {target}"
    )
    # What could be read is stored; an input not read in whole (named above) is exit 3.
    finish(ExitCode.OK if result.read_whole == result.inputs else ExitCode.BAD_INPUT)


@cli.group()
def logs() -> None:
    """Query connection logs, straight from files or from a store."""


@logs.command("query")
@athena_options
@input_options
@filter_options
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows.")
@click.option("--count-by", help="Count rows per value of FIELD[,FIELD] (like sort | uniq -c).")
@format_option("table", "jsonl", "json", "csv")
def logs_query(
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    limit: int | None,
    count_by: str | None,
    fmt: str,
    **filters: Any,
) -> None:
    """Select connections by client, time, status, certificate or listener.

    Keys in JSON and CSV are the AWS field names plus not_before, not_after, error_code and
    source_file. Rows come oldest first. Reading files needs no store.

    \b
    Examples:
      mtls-doctor logs query logs/ --client-ip 203.0.113.9 --status failed
      mtls-doctor logs query logs/ --count-by tls_verify_status
      mtls-doctor logs query --db incident.duckdb --since 2h --status ClientCertExpired
      mtls-doctor logs query --engine athena --since 7d --count-by client_ip --max-scan-gb 20
    """
    engine, athena = AthenaSettings.pop(filters)
    if engine == "athena":
        now = datetime.now(UTC)
        athena_logs_query(
            athena,
            paths,
            build_filters(filters, now),
            limit=limit,
            count_by=tuple(count_by.split(",")) if count_by else None,
            fmt=fmt,
            now=now,
            db=db,
        )
        finish(ExitCode.OK)
    store = resolve_db(paths, db)
    selected = build_filters(filters)
    openers = remote_openers(selected)  # for s3:// PATHS
    with open_selection(
        list(paths), db=store, stdin=sys.stdin.buffer, strict=strict, openers=openers
    ) as sel:
        try:
            if count_by:
                columns = check_columns(count_by.split(","))
                counts = sel.count_by(selected, columns)
                emit(counts.to_dicts(), (*columns, "count"), fmt)
            else:
                emit(
                    (export_row(r) for r in sel.iter_rows(selected, limit=limit)),
                    OUTPUT_COLUMNS if fmt != "table" else TABLE_COLUMNS,
                    fmt,
                )
        finally:
            report_stats(sel.stats)
    finish(ExitCode.OK)


@cli.command()
@click.argument("query")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Store file (default: {default_db_path()}).",
)
@format_option("table", "jsonl", "json", "csv")
def sql(query: str, db: Path | None, fmt: str) -> None:
    """Run read-only SQL over the store (tables: connections, files, parse_errors;
    view connections_v adds source_file).

    \b
    Example:
      mtls-doctor sql "SELECT error_code, count(*) FROM connections GROUP BY 1" --db x.duckdb
    """
    columns, rows = run_sql(db or default_db_path(), query)
    emit(_as_dicts(columns, rows), tuple(columns), fmt)
    finish(ExitCode.OK)


def _as_dicts(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    from mtls_doctor.logs.api import _jsonable

    for row in rows:
        yield {c: _jsonable(v) for c, v in zip(columns, row, strict=True)}


__all__ = ["LogFormatError", "emit", "report_stats"]
