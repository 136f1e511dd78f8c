"""``diagnose``: what is failing, for whom, since when, why, and what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._aws_options import aws_correlator, listener_options
from mtls_doctor.cli._base import cli, finish, format_option
from mtls_doctor.cli._changes import apply_changes, change_options
from mtls_doctor.cli._options import (
    build_filters,
    filter_options,
    input_options,
    read_logs,
)
from mtls_doctor.cli.athena_cmds import athena_diagnose, athena_options, pop_settings
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.target import Scope
from mtls_doctor.diagnose.tls import tls_mix
from mtls_doctor.errors import ExitCode
from mtls_doctor.report.diagnosis_text import render_markdown, render_text
from mtls_doctor.report.tls_text import mix_markdown, mix_text
from mtls_doctor.timeutil import parse_time


def pki_options(func: Any) -> Any:
    """``--trust-store``, ``--crl``, ``--certs``, ``--ignore-expiry``, ``--warn-days``."""
    for decorator in reversed(
        (
            click.option(
                "--trust-store",
                type=click.Path(path_type=Path),
                help="CA bundle the trust store holds (PEM), for correlation.",
            ),
            click.option(
                "--crl",
                "crls",
                multiple=True,
                type=click.Path(path_type=Path),
                help="A CRL of the trust store (repeatable).",
            ),
            click.option(
                "--certs",
                type=click.Path(path_type=Path),
                help="Folder of client certificates to match to log rows by serial.",
            ),
            click.option(
                "--ignore-expiry",
                is_flag=True,
                help="The listener has IgnoreClientCertificateExpiry on.",
            ),
            click.option(
                "--warn-days",
                type=click.IntRange(min=0),
                default=30,
                show_default=True,
                help="Warn about working certificates that expire within this many days.",
            ),
        )
    ):
        func = decorator(func)
    return func


at_option = click.option(
    "--at",
    "at",
    metavar="TIME",
    help="Diagnose as of this time (ISO 8601, or a duration back from now) rather than now: "
    "rows after it are not counted, and expiry warnings and --since/--until durations count "
    "from it. For a past incident.",
)


def clock(at: str | None) -> datetime:
    """Now, or the time ``--at`` gives."""
    now = datetime.now(UTC)
    return now if at is None else parse_time(at, now=now)


@cli.command("diagnose")
@athena_options
@input_options
@filter_options
@pki_options
@at_option
@listener_options
@change_options
@click.option(
    "--tls",
    "tls_section",
    is_flag=True,
    help="Add a TLS section: protocol, cipher and key-exchange mix, post-quantum share, "
    "clients on TLS 1.0/1.1. Opt-in from every source, --db too, so that the same logs give "
    "the same JSON from files and from a store; it reads every handshake, which slows files.",
)
@format_option("text", "json", "markdown")
def diagnose_cmd(
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    trust_store: Path | None,
    crls: tuple[Path, ...],
    certs: Path | None,
    ignore_expiry: bool,
    warn_days: int,
    at: str | None,
    tls_section: bool,
    fmt: str,
    **filters: Any,
) -> None:
    """Explain the failed mTLS connections in connection logs, with evidence and fixes.

    Reads the same inputs and takes the same filters as `logs query`. Exit 0 when the
    selection holds no failures, 1 when it does, 3 when no input could be read.

    \b
    Examples:
      mtls-doctor diagnose logs/
      mtls-doctor diagnose --db incident.duckdb --since 6h --format markdown
      mtls-doctor diagnose logs/ --trust-store bundle.pem --crl revoked.pem --certs clients/
      mtls-doctor diagnose s3://alb-logs/web --since 2h --listener-arn LISTENER_ARN
      mtls-doctor diagnose --engine athena --workgroup primary --since 30d --max-scan-gb 50
      mtls-doctor diagnose logs/2024/04/05/ --at 2024-04-05T18:00:00Z --since 6h
      mtls-doctor diagnose s3://alb-logs/web --since 2h --changes cloudtrail
      mtls-doctor diagnose logs/ --tls
    """
    now = clock(at)
    engine, athena = pop_settings(filters)
    selected = build_filters(filters, now, end=now if at is not None else None)
    correlator = None
    if trust_store or crls or certs:
        from mtls_doctor.diagnose.correlate import Correlator

        correlator = Correlator.from_files(trust_store, crls, certs, ignore_expiry)
    # --listener-arn / --trust-store-arn: the bundle, CRLs and expiry setting in effect on AWS
    correlator = aws_correlator(correlator, bool(trust_store or crls), certs, ignore_expiry)
    mix = None
    if engine == "athena":
        options = DiagnoseOptions(now, warn_days, correlator)
        result, mix = athena_diagnose(athena, paths, selected, options, db=db, tls=tls_section)
    else:
        scope = Scope.of(selected, now, warn_days, tls=tls_section)
        with read_logs(paths, db, scope, now, strict=strict) as (target, nothing):
            result = diagnose(target, selected, DiagnoseOptions(now, warn_days, correlator))
            mix = tls_mix(target) if tls_section else None
        if not result.summary.connections:  # "no failures" only where connections were read
            raise nothing()
    result = apply_changes(result, certs)
    if fmt == "json":
        data = result.to_dict()
        if mix is not None:
            data["tls"] = mix.to_dict()
        click.echo(json.dumps(data, indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(result), nl=False)
        if mix is not None:
            click.echo("\n" + mix_markdown(mix), nl=False)
    else:
        click.echo(render_text(result), nl=False)
        if mix is not None:
            click.echo("\n" + mix_text(mix), nl=False)
    finish(ExitCode.FINDINGS if result.has_failures else ExitCode.OK)
