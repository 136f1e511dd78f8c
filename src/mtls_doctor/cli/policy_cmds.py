"""``policy list``, ``show`` and ``check``: the ALB's TLS security policies (snapshot or
--live), and which logged clients a policy would refuse."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._aws_options import aws_profile_options, profile_region
from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.cli._options import (
    build_filters,
    check_log_paths,
    filter_options,
    input_options,
    read_logs,
)
from mtls_doctor.cli.athena_cmds import athena_options, athena_tls_tables, pop_settings
from mtls_doctor.diagnose.source import Scope, Source
from mtls_doctor.diagnose.tls import policy_check, policy_compare, selected_connections
from mtls_doctor.errors import ExitCode, InputError, UsageError
from mtls_doctor.knowledge.policies import SecurityPolicy, all_policies, find_policy, snapshot_date
from mtls_doctor.knowledge.policy_fit import PolicyDifference, compare_with_snapshot
from mtls_doctor.report import policy_text

_LIVE_HELP = "Ask AWS (DescribeSSLPolicies) and report where it differs from the snapshot."


def _policies(live: bool) -> tuple[tuple[SecurityPolicy, ...], tuple[PolicyDifference, ...] | None]:
    if not live:
        return all_policies(), None
    from mtls_doctor.aws.ssl_policies import describe_ssl_policies

    profile, region = profile_region()
    fetched = describe_ssl_policies(profile=profile, region=region)
    return fetched, compare_with_snapshot(fetched)


def _source(live: bool) -> str:
    return "DescribeSSLPolicies" if live else f"snapshot {snapshot_date()}"


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))


@cli.group()
def policy() -> None:
    """The ALB's TLS security policies: protocols, ciphers, FIPS and PQ.

    The bundled table marks each row verified (AWS's own table) or not (moto, a third
    party, our inference); --live asks AWS and reports the differences.
    """


@policy.command("list")
@click.option("--live", is_flag=True, help=_LIVE_HELP)
@aws_profile_options
@format_option("text", "json")
def policy_list(live: bool, fmt: str) -> None:
    """List every security policy with its protocols, cipher count, flags and source.

    \b
    Example:
      mtls-doctor policy list
      mtls-doctor policy list --live --region eu-west-1 --format json
    """
    policies, differences = _policies(live)
    if fmt == "json":
        _echo_json(
            {
                "schema_version": 1,
                "source": _source(live),
                "policies": [p.to_dict() for p in policies],
                "differences": None if differences is None else [d.to_dict() for d in differences],
            }
        )
    else:
        click.echo(policy_text.policy_table(policies))
        if differences is not None:
            click.echo("\n" + policy_text.differences_text(differences))
    unverified = sum(not p.verified for p in policies)
    info(f"{len(policies)} policies from the {_source(live)}; {unverified} not verified by AWS")
    finish(ExitCode.OK)


# A value pasted by mistake may start with "-" (a PEM block): it is NAME, not an option.
@policy.command("show", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--live", is_flag=True, help=_LIVE_HELP)
@aws_profile_options
@format_option("text", "json")
def policy_show(name: str, live: bool, fmt: str) -> None:
    """Show NAME's protocols and ciphers (OpenSSL and IANA names), flags and source.

    NAME may omit the ELBSecurityPolicy- prefix; a typo is exit 2 naming the nearest.

    \b
    Example:
      mtls-doctor policy show ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09
      mtls-doctor policy show TLS13-1-2-FIPS-2023-04 --live --format json
    """
    policies, differences = _policies(live)
    found = find_policy(name, policies)
    mine = None if differences is None else [d for d in differences if d.name == found.name]
    if fmt == "json":
        _echo_json(
            {
                "schema_version": 1,
                "source": _source(live),
                "policy": found.to_dict(),
                "differences": None if mine is None else [d.to_dict() for d in mine],
            }
        )
    else:
        click.echo(policy_text.policy_detail(found))
        if mine is not None:
            click.echo("\n" + policy_text.differences_text(mine))
    if not found.verified:
        info(f"note: {found.name} is not verified against AWS's table (--live asks AWS)")
    finish(ExitCode.OK)


Empty = Callable[[], InputError]


@contextmanager
def _tls_source(
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    filters: dict[str, Any],
    now: datetime,
) -> Iterator[tuple[Source, Empty]]:
    """The prepared tables with the TLS handshakes, from files, a store or Athena; and why
    the selection would hold no connection (the error to raise when it holds none)."""
    engine, athena = pop_settings(filters)
    selected = build_filters(filters, now)
    if engine == "athena":
        with athena_tls_tables(athena, paths, selected, now, db) as tables:
            yield (
                tables,
                lambda: InputError(
                    "no connection in the Athena table matches the filters",
                    hint="Move or widen --since/--until, or loosen the filters.",
                ),
            )
        return
    with read_logs(paths, db, Scope.of(selected, now, tls=True), now, strict=strict) as read:
        yield read


def _judged(source: Source, connections: int, empty: Empty) -> None:
    """``policy check`` judges TLS handshakes: none selected is exit 3, saying whether no
    connection was selected at all or none of them had a TLS handshake."""
    if connections:
        return
    total = selected_connections(source)
    if not total:
        raise empty()
    raise InputError(
        f"no TLS handshake among the {total} connection(s) selected: "
        "none has a tls_protocol (a plain TCP listener, or logs without TLS fields)",
        hint="policy check reads tls_protocol and tls_cipher; select an HTTPS listener's "
        "logs (--listener-port).",
    )


@policy.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("policy_name", metavar="POLICY", required=False)
@athena_options
@input_options
@filter_options
@click.option(
    "--compare",
    nargs=2,
    metavar="OLD NEW",
    help="What changes for the clients if the listener moves from policy OLD to NEW "
    "(then every argument is a PATH).",
)
@format_option("text", "json")
def policy_check_cmd(
    policy_name: str | None,
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    compare: tuple[str, str] | None,
    fmt: str,
    **filters: Any,
) -> None:
    """Which logged clients would POLICY refuse, and why (from their TLS handshakes).

    Reads the same inputs and takes the same filters as `diagnose`. Exit 1 when some client
    would be refused (with --compare: newly refused), 0 when none would, 2 for an unknown
    policy, 3 when the logs hold no TLS handshake or nothing could be read.

    \b
    Examples:
      mtls-doctor policy check ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 logs/
      mtls-doctor policy check TLS13-1-3-2021-06 --db incident.duckdb --since 7d --format json
      mtls-doctor policy check --compare ELBSecurityPolicy-2016-08 TLS13-1-2-2021-06 logs/
      mtls-doctor policy check TLS13-1-2-2021-06 --engine athena --since 30d --max-scan-gb 50
    """
    if compare is not None:
        if policy_name is not None:  # with --compare, every argument is a PATH
            ctx = click.get_current_context()
            paths = check_log_paths(ctx, ctx.command.params[0], (policy_name, *paths))
        chosen = [find_policy(name, all_policies()) for name in compare]
    elif policy_name is None or _is_path(policy_name):
        shown = "" if policy_name is None else f" ({policy_name} is a path)"
        raise UsageError(
            f"POLICY is missing{shown}", hint="Give a policy name first, or --compare OLD NEW."
        )
    else:
        chosen = [find_policy(policy_name, all_policies())]
    with _tls_source(paths, db, strict, filters, datetime.now(UTC)) as (source, empty):
        if compare is not None:
            comparison = policy_compare(source, chosen[0], chosen[1])
            _judged(source, comparison.new.connections, empty)
        else:
            check = policy_check(source, chosen[0])
            _judged(source, check.connections, empty)
    if compare is not None:
        _echo_result(comparison.to_dict(), policy_text.compare_text(comparison), fmt)
        finish(ExitCode.FINDINGS if comparison.newly_refused else ExitCode.OK)
    _echo_result(check.to_dict(), policy_text.check_text(check), fmt)
    info(
        f"{check.connections} TLS connection(s) examined; "
        f"{check.refused_connections} would be refused by {check.policy.name}"
    )
    finish(ExitCode.FINDINGS if check.clients else ExitCode.OK)


def _is_path(text: str) -> bool:
    return text == "-" or "://" in text or os.path.exists(text)  # never raises


def _echo_result(data: dict[str, Any], text: str, fmt: str) -> None:
    if fmt == "json":
        _echo_json(data)
    else:
        click.echo(text)
