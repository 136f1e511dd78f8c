"""The options that define an Athena table (``athena ddl``/``athena setup``): where the logs
are, which kind (legacy, or a vended JSON/Parquet delivery) and how its columns are typed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from mtls_doctor.athena.ddl import DEFAULT_DATABASE, DEFAULT_TABLE, TableSpec
from mtls_doctor.athena.vended import (
    DEFAULT_DAY_PATH,
    DEFAULT_TABLES,
    KINDS,
    VendedTableSpec,
    table_spec,
)
from mtls_doctor.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def table_options(func: F) -> F:
    for decorator in reversed(
        (
            click.option("--database", default=DEFAULT_DATABASE, show_default=True),
            click.option(
                "--table",
                help=f"Table name (default: {DEFAULT_TABLE}; for --kind json/parquet "
                f"{DEFAULT_TABLES['json']}/{DEFAULT_TABLES['parquet']}).",
            ),
        )
    ):
        func = decorator(func)
    return func


def location_options(func: F) -> F:
    for decorator in reversed(
        (
            click.option(
                "--location",
                required=True,
                help="s3://BUCKET[/PREFIX]/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/; for "
                "--kind json/parquet the folder above the day folders of a vended delivery.",
            ),
            click.option(
                "--kind",
                type=click.Choice(KINDS),
                default="legacy",
                show_default=True,
                help="legacy: the conn_log_*.log.gz files; json/parquet: a vended delivery "
                "to S3 (CloudWatch Logs, log type ALB_CONNECTION_LOGS).",
            ),
            click.option(
                "--projection-start",
                type=click.DateTime(["%Y-%m-%d"]),
                help="First day folder the table covers (delivery date; default 2023-01-01, "
                "for json/parquet 2026-07-01).",
            ),
            click.option(
                "--day-path",
                default=DEFAULT_DAY_PATH,
                show_default=True,
                help="[json/parquet] The day folders under --location (the layout of vended "
                "keys is UNCONFIRMED: check yours).",
            ),
            click.option(
                "--column-type",
                "column_types",
                multiple=True,
                metavar="FIELD=TYPE",
                help="[parquet] A column's type in the files (string, int, bigint, double); "
                "default: the legacy table's (ports int, latency double, others string).",
            ),
        )
    ):
        func = decorator(func)
    return func


def table_spec_of(
    location: str,
    kind: str,
    database: str,
    table: str | None,
    start: datetime | None,
    day_path: str,
    column_types: tuple[str, ...],
) -> TableSpec | VendedTableSpec:
    """The table of ``athena ddl``/``setup`` from its options (``--column-type`` pairs parsed)."""
    pairs: dict[str, str] = {}
    for text in column_types:
        name, sep, value = text.partition("=")
        if not sep:
            raise UsageError(f"--column-type {text!r}: expected FIELD=TYPE (e.g. client_port=int)")
        pairs[name.strip()] = value.strip().lower()
    return table_spec(
        location, kind, database, table, start.date() if start else None, day_path, pairs
    )
