"""Option groups shared by the commands that read connection logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from mtls_doctor.cli._aws_options import s3_input_options
from mtls_doctor.errors import UsageError
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from mtls_doctor.logs.store import default_db_path
from mtls_doctor.timeutil import parse_time

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def input_options(func: F) -> F:
    """PATHS (files, folders, globs, ``-``) or ``--db``, and ``--strict``."""
    return _stack(
        click.argument("paths", nargs=-1),
        click.option(
            "--db",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"Query an ingested store instead of files (default store: {default_db_path()}).",
        ),
        click.option(
            "--strict", is_flag=True, help="Stop with exit 3 at the first malformed line."
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
    if end is None:
        return filters
    if filters.until is not None and filters.until > end:
        raise UsageError(
            f"--until {options['until']} is after --at {end:%Y-%m-%dT%H:%M:%SZ}",
            hint="--at ends the review; give an --until at or before it, or leave it out.",
        )
    return replace(filters, until=filters.until or end)


def resolve_db(paths: tuple[str, ...], db: Path | None) -> Path | None:
    """With no PATHS, read the store (``--db`` or the default one)."""
    if paths:
        if db is not None:
            raise click.UsageError("give PATHS or --db, not both")
        return None
    return db or default_db_path()
