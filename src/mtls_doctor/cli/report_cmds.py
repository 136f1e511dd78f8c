"""``report`` (one HTML file), ``serve`` (the local dashboard) and ``demo`` (the whole job)."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._base import cli, finish, format_option, info, warn
from mtls_doctor.cli._changes import apply_changes, change_options, dashboard_explainer
from mtls_doctor.cli._options import (
    build_filters,
    filter_options,
    input_options,
    read_logs,
)
from mtls_doctor.cli.athena_cmds import athena_options, athena_report, pop_settings
from mtls_doctor.cli.diagnose_cmds import at_option, clock, pki_options
from mtls_doctor.diagnose.correlate import Correlator
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import likely_cause_text
from mtls_doctor.diagnose.overview import overview
from mtls_doctor.diagnose.target import Scope
from mtls_doctor.diagnose.tls import tls_mix
from mtls_doctor.errors import ExitCode
from mtls_doctor.logs.store import default_db_path
from mtls_doctor.report.html import render_html
from mtls_doctor.sandbox.config import LOG_FORMATS


def _correlator(
    trust_store: Path | None, crls: tuple[Path, ...], certs: Path | None, ignore_expiry: bool
) -> Correlator | None:
    if trust_store or crls or certs:
        return Correlator.from_files(trust_store, crls, certs, ignore_expiry)
    return None


@cli.command("report")
@athena_options
@input_options
@filter_options
@pki_options
@at_option
@change_options
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    help="File to write; - writes the HTML to stdout.",
)
@click.option("--title", default="mTLS incident report", show_default=True, help="Page title.")
@click.option(
    "--tls/--no-tls",
    "tls_section",
    default=True,
    show_default=True,
    help="The TLS section: protocol, cipher and key-exchange mix, post-quantum share, "
    "clients on TLS 1.0/1.1. It reads every handshake, so --no-tls reads files faster.",
)
def report_cmd(
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    trust_store: Path | None,
    crls: tuple[Path, ...],
    certs: Path | None,
    ignore_expiry: bool,
    warn_days: int,
    at: str | None,
    output: str,
    title: str,
    tls_section: bool,
    **filters: Any,
) -> None:
    """Write the diagnosis as one self-contained HTML file (charts and data inline).

    Takes the inputs and filters of `diagnose`. The file needs no network and no script:
    mail it, print it. It has a TLS section unless --no-tls. Prints the path written on
    stdout. Exit 0 when the selection holds no failures, 1 when it does, 3 when no input
    could be read.

    \b
    Examples:
      mtls-doctor report logs/ -o report.html
      mtls-doctor report --db incident.duckdb --since 6h --trust-store bundle.pem -o out.html
      mtls-doctor report --engine athena --since 30d --max-scan-gb 50 -o month.html
      mtls-doctor report logs/ --changes trail-logs/ -o report.html
      mtls-doctor report logs/ --no-tls -o report.html
    """
    now = clock(at)
    engine, athena = pop_settings(filters)
    selected = build_filters(filters, now, end=now if at is not None else None)
    correlator = _correlator(trust_store, crls, certs, ignore_expiry)
    if engine == "athena":
        options = DiagnoseOptions(now, warn_days, correlator)
        result, top, mix = athena_report(athena, paths, selected, options, db=db, tls=tls_section)
        result = apply_changes(result, certs)
        page = render_html(result, top, title=title, tls=mix)
    else:
        scope = Scope.of(selected, now, warn_days, tls=tls_section)
        with read_logs(paths, db, scope, now, strict=strict) as (target, nothing):
            result = diagnose(target, selected, DiagnoseOptions(now, warn_days, correlator))
            if result.summary.connections:
                result = apply_changes(result, certs)
            mix = tls_mix(target) if tls_section else None
            page = render_html(result, overview(target), title=title, tls=mix)
        if not result.summary.connections:  # "no failures" only where connections were read
            raise nothing()
    if output == "-":
        click.echo(page, nl=False)
    else:
        Path(output).write_text(page, encoding="utf-8")
        s = result.summary
        info(f"{s.connections} connections, {s.failed} failed, {len(result.failures)} code(s)")
        click.echo(output)
    finish(ExitCode.FINDINGS if result.has_failures else ExitCode.OK)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command("serve")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The store to show (default: {default_db_path()}).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host name (repeatable); loopback names always work.",
)
@pki_options
@change_options
def serve_cmd(
    db: Path | None,
    host: str,
    port: int,
    allow_hosts: tuple[str, ...],
    trust_store: Path | None,
    crls: tuple[Path, ...],
    certs: Path | None,
    ignore_expiry: bool,
    warn_days: int,
) -> None:
    """Serve a local dashboard over a store until Ctrl-C (then exit 130).

    Pages: overview, connections (filter, sort, page, CSV), one per code, client and
    certificate; each has a JSON twin under /api/. The store is read through snapshot
    copies, so an ingest may run at the same time. Prints the URL on stdout.

    \b
    Examples:
      mtls-doctor serve --db incident.duckdb
      mtls-doctor serve --db incident.duckdb --port 0 --certs clients/ --trust-store ca.pem
      mtls-doctor serve --db incident.duckdb --host 0.0.0.0 --allow-host dash.internal
    """
    from mtls_doctor.web.app import DashboardApp
    from mtls_doctor.web.server import Dashboard, is_loopback
    from mtls_doctor.web.source import StoreSource

    workdir = Path(tempfile.mkdtemp(prefix="mtls-doctor-serve-"))
    try:
        source = StoreSource(db or default_db_path(), workdir)
        source.refresh()
        correlator = _correlator(trust_store, crls, certs, ignore_expiry)
        app = DashboardApp(
            source,
            build_filters,
            correlator=correlator,
            warn_days=warn_days,
            explain=dashboard_explainer(certs),
        )
        if not is_loopback(host):
            warn(f"listening on {host}: anyone who can reach this address sees the logs")
        dashboard = Dashboard(app, host, port, allow_hosts=allow_hosts)
        url = dashboard.start()
        click.echo(url)
        info("dashboard running; Ctrl-C stops it")
        # SIGTERM stops it like Ctrl-C, so that the snapshot copies are removed either way.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            info("stopping")
        finally:
            signal.signal(signal.SIGTERM, previous)
            dashboard.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # The dashboard only ever ends by Ctrl-C or SIGTERM: exit as interrupted, as documented.
    finish(ExitCode.INTERRUPTED)


@cli.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the PKI, logs, store and report (its demo files are replaced).",
)
@click.option(
    "--log-format",
    default="legacy",
    show_default=True,
    type=click.Choice(LOG_FORMATS),
    help="How the sandbox writes its connection logs: legacy lines, or vended JSON lines.",
)
@format_option("text", "json")
def demo_cmd(out: Path, log_format: str, fmt: str) -> None:
    """Run the whole job on a local incident: PKI, sandbox, traffic, ingest, diagnose, report.

    Makes the scenario PKI, starts the sandbox listener on 127.0.0.1, sends 30 simulated
    minutes of traffic from 40 loopback client addresses, changes the trust store, sends
    20 more minutes, stops the listener, ingests its logs into a DuckDB store, and writes
    report.html.
    Leaves nothing running. Exit 0 when the demo ran.

    \b
    Example:
      mtls-doctor demo --out demo-out
      mtls-doctor serve --db demo-out/connections.duckdb
    """
    from mtls_doctor.demo import run_demo

    result = run_demo(out, progress=info, log_format=log_format)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        finish(ExitCode.OK)
    d = result.to_dict()
    lines = [
        f"Sent {d['connections_sent']} connections in {d['seconds']} s; "
        f"{d['failed']} failed: " + ", ".join(f"{k} {v}" for k, v in d["codes"].items()),
        *[
            line
            for g in result.diagnosis.failures
            if g.change
            for line in (f"Change: {g.change.message}", likely_cause_text(g.change))
            if line
        ],
        f"Report:    {result.report}",
        f"Store:     {result.db}",
        f"Diagnosis: {result.diagnosis_json}",
        f"Logs:      {result.log_dir}",
        f"PKI:       {result.pki_dir}",
        f"Next:      mtls-doctor serve --db {result.db}",
    ]
    click.echo("\n".join(lines))
    finish(ExitCode.OK)
