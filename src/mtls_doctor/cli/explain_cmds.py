"""``explain``: what a ``tls_verify_status`` code means and how to fix it."""

from __future__ import annotations

import click

from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.errors import ExitCode
from mtls_doctor.knowledge.catalogue import UNKNOWN, all_entries, get_entry
from mtls_doctor.report.explain import ExplainFormat, render_entry, render_list


@cli.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every catalogue entry instead.")
@format_option(*(f.value for f in ExplainFormat))
def explain(code: str | None, list_all: bool, fmt: str) -> None:
    """Explain a connection-log status: meaning, causes, evidence, steps, who acts.

    CODE is one of the ALB reason codes, with or without the "Failed:" prefix and in any
    case, or "Success", or "-" (not TLS). An unknown code still prints the "unknown" entry,
    with similar documented codes and codes that belong to other services (exit 0).

    \b
    Example:
      mtls-doctor explain ClientCertUntrusted
      mtls-doctor explain Failed:clientcertexpired --format markdown > ticket.md
      mtls-doctor explain --list --format json
    """
    if list_all:
        if code is not None:
            raise click.UsageError("give a CODE or --list, not both")
        click.echo(render_list(all_entries(), fmt), nl=False)
        finish(ExitCode.OK)
    if code is None:
        raise click.UsageError("missing CODE (or use --list to see them all)")
    entry = get_entry(code)
    if entry.key == UNKNOWN:
        info(f"note: {code!r} is not a documented ALB status; showing the 'unknown' entry")
    click.echo(render_entry(entry, fmt), nl=False)
    finish(ExitCode.OK)
