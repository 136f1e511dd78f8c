"""Option groups shared by the commands that read connection logs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from mtls_doctor.cli._aws_options import remote_openers, s3_input_options
from mtls_doctor.cli._output import report_stats
from mtls_doctor.diagnose.source import Scope, Source
from mtls_doctor.diagnose.target import open_target
from mtls_doctor.errors import InputError, UsageError
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from mtls_doctor.logs.sources import Opener
from mtls_doctor.logs.store import default_db_path
from mtls_doctor.timeutil import check_window, iso_z, parse_time

F = TypeVar("F", bound=Callable[..., Any])


NOT_LOGS_HINT = (
    "Check that these are ALB connection logs (conn_log_*.log.gz, or vended JSON lines, "
    "Parquet, W3C or delimited plain)."
)


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def input_options(func: F) -> F:
    """PATHS (files, folders, globs, ``-``) or ``--db``, and ``--strict``."""
    return _stack(
        click.argument("paths", nargs=-1, callback=check_log_paths),
        click.option(
            "--db",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"Query an ingested store instead of files (default store: {default_db_path()}).",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Stop with exit 3 at the first malformed line or file fault.",
        ),
        s3_input_options,  # s3://bucket[/prefix] PATHS: --profile --region --account --lb ...
    )(func)


def filter_options(func: F) -> F:
    """The row filters of ``logs query``, ``diagnose`` and ``report``."""
    return _stack(
        click.option("--client-ip", help="Address or CIDR block, IPv4 or IPv6."),
        click.option("--since", help="ISO 8601 time, or a duration back from now (2h, 7d)."),
        click.option("--until", help="ISO 8601 time, or a duration back from now (exclusive)."),
        click.option("--status", help="success, failed, not-tls, or a code (ClientCertExpired)."),
        click.option("--subject", help="Substring of the leaf certificate subject (any case)."),
        click.option("--serial", help="Leaf certificate serial (hex; leading zeros ignored)."),
        click.option("--listener-port", type=click.IntRange(0, 65535), help="Listener port."),
        click.option("--tls-protocol", help="TLS version as logged, e.g. TLSv1.2."),
    )(func)


def build_filters(
    options: dict[str, Any], now: datetime | None = None, *, end: datetime | None = None
) -> Filters:
    """Filters from the values of :func:`filter_options`.

    ``end`` (``--at``) ends the selection: rows from it on are not counted, and an
    ``--until`` after it is a usage error."""
    moment = now or datetime.now(UTC)
    filters = Filters(
        client=parse_client(options["client_ip"]) if options.get("client_ip") is not None else None,
        since=parse_time(options["since"], now=moment)
        if options.get("since") is not None
        else None,
        until=parse_time(options["until"], now=moment)
        if options.get("until") is not None
        else None,
        status=parse_status(options["status"]) if options.get("status") is not None else None,
        subject=options.get("subject"),
        serial=options.get("serial"),
        listener_port=options.get("listener_port"),
        tls_protocol=options.get("tls_protocol"),
    )
    check_window(filters.since, filters.until)
    if end is None:
        return filters
    if filters.until is not None and filters.until > end:
        raise UsageError(
            f"--until {options['until']} is after --at {end:%Y-%m-%dT%H:%M:%SZ}",
            hint="--at ends the review; give an --until at or before it, or leave it out.",
        )
    check_window(filters.since, filters.until or end, "--until" if filters.until else "--at")
    return replace(filters, until=filters.until or end)


def resolve_db(paths: tuple[str, ...], db: Path | None) -> Path | None:
    """With no PATHS, read the store (``--db`` or the default one)."""
    if paths:
        if db is not None:
            raise click.UsageError("give PATHS or --db, not both")
        return None
    return db or default_db_path()


def _is_store(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head[8:12] == b"DUCK"  # DuckDB's file header: 8 bytes of checksum, then DUCK


def check_log_paths(ctx: click.Context, param: click.Parameter, paths: Any) -> Any:
    """A DuckDB store given where log files go: one line that says ``--db``, rather than a
    malformed-line warning for each of its blocks."""
    for text in paths or ():
        path = Path(text)
        if text != "-" and "://" not in text and path.is_file() and _is_store(path):
            raise UsageError(
                f"{text} is a DuckDB store, not a connection log",
                hint=f"Read a store with --db {text}",
            )
    return paths


def input_span(
    paths: tuple[str, ...], db: Path | None, openers: Mapping[str, Opener] | None = None
) -> tuple[int, datetime | None, datetime | None] | None:
    """All the connections the inputs hold, and their first and last time (None for stdin,
    which cannot be read twice)."""
    from mtls_doctor.logs.api import open_selection

    if "-" in paths:
        return None
    with open_selection(list(paths), db=db, openers=openers) as selection:
        return selection.span()


def nothing_selected(
    span: tuple[int, datetime | None, datetime | None] | None,
    paths: tuple[str, ...],
    db: Path | None,
    filters: Filters,
) -> tuple[InputError, bool]:
    """Why a selection holds no connection, and whether that is because nothing could be
    read at all (bad input) rather than because the window or filters miss every one."""
    where = " ".join(paths) if paths else f"the store {db}"
    if span is not None and span[0] == 0:
        hint = (
            NOT_LOGS_HINT
            if paths
            else f"Load logs into it first: mtls-doctor ingest LOGS --db {db}"
        )
        return InputError(f"no connection could be read from {where}", hint=hint), True
    spans = f" (the logs span {iso_z(span[1])} to {iso_z(span[2])})" if span else ""
    if filters.since is not None or filters.until is not None:
        start, end = iso_z(filters.since) or "the start", iso_z(filters.until) or "now"
        return InputError(
            f"no connections between {start} and {end}{spans}",
            hint="Move or widen --since/--until (or --at) to the time the logs cover.",
        ), False
    read = f"{span[0]} connection(s) read{spans}" if span else "connections were read"
    return InputError(
        f"no connection matches the filters; {read}",
        hint="Loosen the filters; 'logs query ... --count-by FIELD' shows the values there are.",
    ), False


@contextmanager
def read_logs(
    paths: tuple[str, ...], db: Path | None, scope: Scope, now: datetime, *, strict: bool
) -> Iterator[tuple[Source, Callable[[], InputError]]]:
    """The logs of PATHS (local, ``s3://``, stdin) or a store, read once for ``scope``, with
    the read statistics reported; and how to say that nothing was selected (exit 3).

    Every command that diagnoses (diagnose, report, policy check) reads through here, so
    each accepts the same inputs and says "nothing read" alike.
    """
    store, openers = resolve_db(paths, db), remote_openers(scope.filters, now)
    with open_target(
        list(paths), db=store, stdin=sys.stdin.buffer, strict=strict, openers=openers, scope=scope
    ) as target:
        report_stats(target.stats)
        if paths and not target.stats.rows:
            named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            raise InputError(
                f"no connection-log line could be read from {named}",
                hint=NOT_LOGS_HINT,
            )
        selected = scope.filters
        yield (
            target,
            lambda: nothing_selected(input_span(paths, store, openers), paths, store, selected)[0],
        )
