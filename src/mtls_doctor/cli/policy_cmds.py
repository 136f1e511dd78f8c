"""``policy list`` and ``policy show``: the ALB's TLS security policies (snapshot or --live)."""

from __future__ import annotations

import json
from typing import Any

import click

from mtls_doctor.cli._aws_options import aws_profile_options, profile_region
from mtls_doctor.cli._base import cli, finish, format_option, info
from mtls_doctor.errors import ExitCode
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
