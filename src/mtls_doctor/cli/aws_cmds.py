"""``aws listener``, ``aws trust-store fetch`` and ``aws connection-logs``.

The AWS library modules are imported inside the commands, so ``mtls-doctor`` starts without
loading boto3.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from mtls_doctor.cli._aws_options import aws_profile_options, profile_region
from mtls_doctor.cli._base import cli, finish, format_option, info, warn
from mtls_doctor.errors import ExitCode, UsageError


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))


@cli.group()
def aws() -> None:
    """Read the mTLS settings, trust store and log delivery the ALB has in effect.

    Credentials come from boto3's usual chain (--profile, AWS_PROFILE, environment, SSO,
    instance role); AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 are honoured.
    """


@aws.command("listener")
@click.argument("listener_arn")
@aws_profile_options
@format_option("text", "json")
def aws_listener(listener_arn: str, fmt: str) -> None:
    """Show LISTENER_ARN's mTLS settings and header names, with findings.

    Exit 0 when no finding is an error or a warning, 1 otherwise, 4 when AWS refuses.

    \b
    Example:
      mtls-doctor aws listener \\
        arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2
    """
    from mtls_doctor.aws.findings import has_problems
    from mtls_doctor.aws.listener import describe_listener
    from mtls_doctor.aws.render import listener_text

    profile, region = profile_region()
    settings = describe_listener(listener_arn, profile=profile, region=region)
    if fmt == "json":
        _echo_json(settings.to_dict())
    else:
        click.echo(listener_text(settings))
    finish(ExitCode.FINDINGS if has_problems(settings.findings) else ExitCode.OK)


@aws.group("trust-store")
def aws_trust_store() -> None:
    """Trust stores as the ALB has them."""


@aws_trust_store.command("fetch")
@click.argument("trust_store_arn")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for ca-bundle.pem, crl-<id>.pem and manifest.json (created if missing).",
)
@click.option("--warn-days", default=30, show_default=True, type=click.IntRange(0))
@aws_profile_options
@format_option("text", "json")
def aws_trust_store_fetch(trust_store_arn: str, out_dir: Path, warn_days: int, fmt: str) -> None:
    """Download the CA bundle and every CRL in effect, then run `trust-store check` on them.

    The files come through the API's presigned links, so they are what the ALB uses, even
    if the S3 objects they were made from have changed since. Exit as `trust-store check`:
    0 when nothing is an error, 1 otherwise; 4 when AWS refuses.

    \b
    Example:
      mtls-doctor aws trust-store fetch \\
        arn:aws:elasticloadbalancing:us-east-1:111122223333:truststore/my-trust-store/3ym756xh7yj \\
        --out ts/
    """
    from mtls_doctor.aws.render import fetched_text
    from mtls_doctor.aws.truststore import fetch_trust_store
    from mtls_doctor.pki import render
    from mtls_doctor.pki.bundle import check_trust_store

    profile, region = profile_region()
    now = datetime.now(UTC)
    fetched = fetch_trust_store(trust_store_arn, out_dir, now=now, profile=profile, region=region)
    report = check_trust_store(fetched.bundle_path, fetched.crl_paths, now=now, warn_days=warn_days)
    if fmt == "json":
        _echo_json({"schema_version": 1, "fetch": fetched.to_dict(), "check": report.to_dict()})
    else:
        click.echo(fetched_text(fetched))
        click.echo(render.trust_store_text(report))
    finish(ExitCode.OK if report.ok else ExitCode.FINDINGS)


@aws.command("connection-logs")
@click.argument("lb_arn")
@click.option("--enable", is_flag=True, help="Turn connection logs on (shows the change first).")
@click.option("--bucket", help="With --enable: the bucket for the logs (same region as the LB).")
@click.option("--prefix", default="", help="With --enable: a prefix in the bucket (no AWSLogs).")
@click.option(
    "--enable-vended",
    "vended_destination",
    metavar="DESTINATION_ARN",
    help="Deliver connection logs through CloudWatch Logs to this bucket, log group or "
    "Firehose stream ARN (shows the calls first).",
)
@click.option(
    "--output-format",
    type=click.Choice(("json", "plain", "w3c", "parquet", "raw")),
    help="With --enable-vended: the format written (default json; parquet for S3 + Athena).",
)
@click.option(
    "--hive-paths/--no-hive-paths",
    default=True,
    show_default=True,
    help="With --enable-vended to S3: Hive-style year=/month=/day= folders (athena ddl --kind).",
)
@click.option("--yes", is_flag=True, help="With --enable/--enable-vended: apply without asking.")
@aws_profile_options
@format_option("text", "json")
def aws_connection_logs(
    lb_arn: str,
    enable: bool,
    bucket: str | None,
    prefix: str,
    vended_destination: str | None,
    output_format: str | None,
    hive_paths: bool,
    yes: bool,
    fmt: str,
) -> None:
    """Check connection-log delivery of LB_ARN, or turn it on with --enable/--enable-vended.

    Checks: logs on; destination; bucket in the LB's region; SSE-S3 encryption; a bucket
    policy letting the log-delivery service write under AWSLogs/<account>/; the
    ELBConnectionLogTestFile; the newest log file; and the deliveries through CloudWatch
    Logs (log type ALB_CONNECTION_LOGS): source, destination, output format, record fields.
    Exit 0 when no finding is an error or a warning, 1 otherwise, 4 when AWS refuses.

    \b
    Examples:
      mtls-doctor aws connection-logs \\
        arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188
      mtls-doctor aws connection-logs LB_ARN --enable --bucket my-logs --prefix web --yes
      mtls-doctor aws connection-logs LB_ARN --enable-vended arn:aws:s3:::my-logs \\
        --output-format parquet --yes
    """
    if enable and vended_destination:
        raise UsageError("give --enable or --enable-vended, not both")
    if vended_destination:
        if bucket or prefix:
            raise UsageError("--bucket and --prefix go with --enable")
        _enable_vended(lb_arn, vended_destination, output_format, hive_paths, yes, fmt)
    if output_format or not hive_paths:
        raise UsageError("--output-format and --no-hive-paths go with --enable-vended")
    if enable:
        _enable(lb_arn, bucket, prefix, yes, fmt)
    if bucket or prefix or yes:
        raise UsageError("--bucket, --prefix and --yes go with --enable")
    from mtls_doctor.aws.delivery import check_delivery
    from mtls_doctor.aws.findings import has_problems
    from mtls_doctor.aws.render import delivery_text

    profile, region = profile_region()
    report = check_delivery(lb_arn, now=datetime.now(UTC), profile=profile, region=region)
    if fmt == "json":
        _echo_json(report.to_dict())
    else:
        click.echo(delivery_text(report))
    finish(ExitCode.FINDINGS if has_problems(report.findings) else ExitCode.OK)


def _enable_vended(
    lb_arn: str, destination: str, output_format: str | None, hive_paths: bool, yes: bool, fmt: str
) -> None:
    from mtls_doctor.aws.render import vended_plan_text
    from mtls_doctor.aws.vended_delivery import logs_client
    from mtls_doctor.aws.vended_enable import apply_vended, plan_vended

    profile, region = profile_region()
    logs = logs_client(lb_arn, profile, region)
    plan = plan_vended(
        lb_arn, destination, logs=logs, output_format=output_format, hive_paths=hive_paths
    )
    if fmt == "text":
        click.echo(vended_plan_text(plan))
    created = None
    if plan.already is not None:
        info(f"nothing to do: delivery {plan.already.delivery_id} already goes there")
    elif yes or (sys.stdin.isatty() and click.confirm("Create these?", err=True)):
        created = apply_vended(plan, logs=logs)
        info(f"created delivery {created.delivery_id}: the first records arrive within minutes")
    else:
        warn("nothing changed; add --yes to apply")
    if fmt == "json":
        _echo_json(
            {
                **plan.to_dict(),
                "applied": created is not None,
                "delivery": created.to_dict() if created else None,
            }
        )
    finish(ExitCode.OK)


def _enable(lb_arn: str, bucket: str | None, prefix: str, yes: bool, fmt: str) -> None:
    from mtls_doctor.aws.delivery import apply_enable, plan_enable
    from mtls_doctor.aws.render import plan_text

    if not bucket:
        raise UsageError("--enable needs --bucket")
    if "AWSLogs" in prefix:
        raise UsageError("--prefix must not contain AWSLogs (ELB adds it)")
    profile, region = profile_region()
    plan = plan_enable(
        lb_arn, bucket, prefix, now=datetime.now(UTC), profile=profile, region=region
    )
    applied = False
    if fmt == "text":
        click.echo(plan_text(plan))
    if yes or (sys.stdin.isatty() and click.confirm("Apply these changes?", err=True)):
        apply_enable(plan, profile=profile, region=region)
        applied = True
        info("applied; ELB writes ELBConnectionLogTestFile to the bucket now")
    else:
        warn("nothing changed; add --yes to apply")
    if fmt == "json":
        _echo_json({**plan.to_dict(), "applied": applied})
    finish(ExitCode.OK)
