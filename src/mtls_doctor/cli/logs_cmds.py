"""``ingest``, ``logs query`` and ``sql``: connection logs into DuckDB, and back out."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._aws_options import remote_openers, s3_ingest_options
from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.cli._options import (
    build_filters,
    check_log_paths,
    filter_options,
    input_options,
    nothing_selected,
    resolve_db,
)
from mtls_doctor.cli._output import TABLE_COLUMNS, emit, report_stats, write
from mtls_doctor.cli.athena_cmds import athena_logs_query, athena_options, pop_settings
from mtls_doctor.errors import ExitCode, InputError, LogFormatError
from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
from mtls_doctor.logs.api import export_row, open_selection
from mtls_doctor.logs.ingest import ingest_inputs, run_sql
from mtls_doctor.logs.query import check_columns
from mtls_doctor.logs.sources import input_scheme
from mtls_doctor.logs.store import default_db_path


@cli.command()
@click.argument("paths", nargs=-1, callback=check_log_paths)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Store file (default: {default_db_path()}; or $MTLS_DOCTOR_DB).",
)
@click.option(
    "--strict", is_flag=True, help="Stop with exit 3 at the first malformed line or file fault."
)
@s3_ingest_options
@format_option("text", "json")
def ingest(paths: tuple[str, ...], db: Path | None, strict: bool, fmt: str) -> None:
    """Load connection logs into a DuckDB store (idempotent; whole files only).

    PATHS are files (.log.gz or plain), folders (read recursively; only conn_log_* names),
    globs, or - for stdin. Ingesting the same files again adds nothing. With no PATHS it
    only creates or upgrades the store. s3://bucket[/prefix] reads the ALB's S3 layout and
    fetches only objects the store does not hold in their current version (see docs/aws.md);
    cloudwatch:LOG_GROUP (or a log-group ARN) reads only the events the store does not hold.
    An input that cannot be read in whole is named, the others are stored, and the exit
    code is 3.

    \b
    Example:
      mtls-doctor ingest logs/ --db incident.duckdb
      mtls-doctor ingest s3://my-alb-logs/web --since 1h --region eu-west-1
      mtls-doctor ingest cloudwatch:/aws/vendedlogs/alb-connections --region eu-west-1
    """
    target = db or default_db_path()
    with no_empty_store_left(target):
        result = ingest_inputs(
            list(paths),
            target,
            stdin=sys.stdin.buffer,
            strict=strict,
            progress=info if sys.stderr.isatty() else None,
            openers=remote_openers(),
        )
        unread = result.unreadable  # named by report_stats, and exit 3 below
        if paths and not result.files and not unread and not any(map(input_scheme, paths)):
            report_stats(result.stats)
            raise InputError(
                "no connection-log file among the inputs: nothing ingested",
                hint="Give ALB connection logs (conn_log_*.log.gz), or folders holding them.",
            )
    report_stats(result.stats)
    if fmt == "json":
        write([result.to_json()])
    else:
        for item in result.files:
            write([f"{item.status:9} {item.rows:8} rows  {item.source}\n"])
    info(
        f"{result.read_whole} of {result.inputs} inputs read; "
        f"{result.added_rows} rows added from {result.added_files} new file(s); "
        f"{result.unchanged_files} file(s) already stored; store: {target}"
    )
    # What could be read is stored; an input not read in whole (named above) is exit 3.
    finish(ExitCode.OK if result.read_whole == result.inputs else ExitCode.BAD_INPUT)


@contextmanager
def no_empty_store_left(path: Path) -> Iterator[None]:
    """A store file this run creates and commits no file to does not stay behind when the
    run fails: it would later read as a healthy store."""
    created = not path.exists()
    try:
        yield
    except BaseException:
        if created and _holds_no_file(path):
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise


def _holds_no_file(path: Path) -> bool:
    from mtls_doctor.logs.store import Store

    if not path.exists():
        return False
    try:
        store = Store.open_read_only(path)
    except Exception:  # not a store we can read: not ours to judge, leave it
        return False
    try:
        row = store.con.execute("SELECT count(*) FROM files").fetchone()
    finally:
        store.close()
    return row is not None and row[0] == 0


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
    engine, athena = pop_settings(filters)
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
        list(paths),
        db=store,
        stdin=sys.stdin.buffer,
        strict=strict,
        openers=openers,
        since=selected.since,
        until=selected.until,
    ) as sel:
        shown = Counter()
        try:
            if count_by:
                columns = check_columns(count_by.split(","))
                counts = sel.count_by(selected, columns)
                emit(shown.each(counts.to_dicts()), (*columns, "count"), fmt)
            else:
                emit(
                    shown.each(export_row(r) for r in sel.iter_rows(selected, limit=limit)),
                    OUTPUT_COLUMNS if fmt != "table" else TABLE_COLUMNS,
                    fmt,
                )
        finally:
            report_stats(sel.stats)
        if not shown.count and limit != 0:
            span = None if "-" in paths else sel.span()
            error, unread = nothing_selected(span, paths, store, selected)
            if unread:
                raise error
            info(error.message)
    finish(ExitCode.OK)


class Counter:
    """Counts the rows that pass through on their way to stdout."""

    def __init__(self) -> None:
        self.count = 0

    def each(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            self.count += 1
            yield row


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
