"""Connection-log delivery: is it on, where to, did files arrive; turning it on (spec §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.bucket import (
    TEST_FILE,
    BucketState,
    CheckContext,
    inspect_bucket,
    replace_state,
)
from mtls_doctor.aws.findings import AwsFinding, sort_findings
from mtls_doctor.aws.layout import ConnLogName, day_prefix, lb_matches
from mtls_doctor.aws.s3 import iter_objects
from mtls_doctor.aws.session import (
    account_of_arn,
    check_arn,
    error_code,
    partition_of_arn,
    region_of_arn,
    translate,
)
from mtls_doctor.aws.vended_delivery import VendedState, logs_client, read_vended
from mtls_doctor.errors import InputError
from mtls_doctor.timeutil import iso_z

ATTR = "connection_logs.s3."


@dataclass(frozen=True)
class DeliveryReport:
    """Connection-log delivery of one load balancer."""

    lb_arn: str
    region: str
    account: str
    enabled: bool
    bucket: BucketState | None
    findings: tuple[AwsFinding, ...]
    checked_at: datetime
    # Deliveries through CloudWatch Logs (aws.vended_delivery); None when not read.
    vended: VendedState | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "load_balancer_arn": self.lb_arn,
            "region": self.region,
            "account": self.account,
            "enabled": self.enabled,
            "bucket": self.bucket.to_dict() if self.bucket else None,
            "checked_at": iso_z(self.checked_at),
            "vended": self.vended.to_dict() if self.vended else None,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class EnablePlan:
    """The attribute changes that turn connection logs on, and what the target bucket looks like."""

    lb_arn: str
    changes: tuple[tuple[str, str | None, str], ...]  # key, current value, new value
    bucket: BucketState
    findings: tuple[AwsFinding, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "load_balancer_arn": self.lb_arn,
            "changes": [{"key": k, "current": c, "new": n} for k, c, n in self.changes],
            "bucket": self.bucket.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def _context(
    lb_arn: str, profile: str | None, region: str | None, now: datetime, elb: Any, s3: Any
) -> CheckContext:
    check_arn(lb_arn, "loadbalancer")
    lb_region = region_of_arn(lb_arn) or region or ""
    account = account_of_arn(lb_arn) or ""
    elb = elb or aws_session.new_client("elbv2", profile=profile, region=region or lb_region)
    s3 = s3 or aws_session.new_client("s3", profile=profile, region=region or lb_region)
    return CheckContext(lb_arn, lb_region, account, partition_of_arn(lb_arn), elb, s3, now)


def _lb_attributes(ctx: CheckContext) -> dict[str, str]:
    try:
        lbs = ctx.elb.describe_load_balancers(LoadBalancerArns=[ctx.lb_arn])["LoadBalancers"]
        if lbs and lbs[0].get("Type") not in (None, "application"):
            raise InputError(
                f"{ctx.lb_arn}: a {lbs[0]['Type']} load balancer; "
                "connection logs are an ALB feature"
            )
        raw = ctx.elb.describe_load_balancer_attributes(LoadBalancerArn=ctx.lb_arn)["Attributes"]
    except InputError:
        raise
    except Exception as error:
        raise translate(
            error, action="elasticloadbalancing:DescribeLoadBalancerAttributes", resource=ctx.lb_arn
        ) from error
    return {a["Key"]: a.get("Value", "") for a in raw}


def check_delivery(
    lb_arn: str,
    *,
    now: datetime,
    profile: str | None = None,
    region: str | None = None,
    stale_after: timedelta = timedelta(hours=1),
    lookback_days: int = 7,
    elb: Any = None,
    s3: Any = None,
    logs: Any = None,
) -> DeliveryReport:
    """Check where connection logs of ``lb_arn`` go and whether ELB can write there: the
    ``connection_logs.s3.*`` attributes, and the deliveries through CloudWatch Logs."""
    ctx = _context(lb_arn, profile, region, now, elb, s3)
    attributes = _lb_attributes(ctx)
    enabled = attributes.get(ATTR + "enabled", "false").lower() == "true"
    bucket_name = attributes.get(ATTR + "bucket") or ""
    vended = _vended(ctx, logs or logs_client(lb_arn, profile, region))
    if not enabled:
        ctx.findings.append(_logs_off(vended))
    state = None
    if bucket_name:
        state = inspect_bucket(ctx, bucket_name, attributes.get(ATTR + "prefix") or "")
        if enabled:
            state = _newest(ctx, state, lookback_days, stale_after)
    elif enabled:
        ctx.findings.append(
            AwsFinding("NoBucket", "error", "connection logs are on but name no bucket")
        )
    return DeliveryReport(
        lb_arn, ctx.region, ctx.account, enabled, state, sort_findings(ctx.findings), now, vended
    )


def _vended(ctx: CheckContext, logs: Any) -> VendedState | None:
    try:
        return read_vended(ctx.lb_arn, logs, ctx.findings)
    except Exception as error:
        ctx.refused(
            "vended deliveries (CloudWatch Logs)", error, "logs:DescribeDeliverySources", ctx.lb_arn
        )
        return None


def _logs_off(vended: VendedState | None) -> AwsFinding:
    if vended is not None and vended.deliveries:
        return AwsFinding(
            "ConnectionLogsOff",
            "info",
            "the connection_logs.s3 attributes are off: connection logs go through "
            "CloudWatch Logs (vended delivery) instead",
        )
    return AwsFinding(
        "ConnectionLogsOff",
        "warning",
        "connection logs are off for this load balancer",
        "Turn them on: mtls-doctor aws connection-logs LB_ARN --enable --bucket BUCKET "
        "(or --enable-vended DESTINATION_ARN for a CloudWatch Logs delivery)",
    )


def _newest(
    ctx: CheckContext, state: BucketState, lookback_days: int, stale_after: timedelta
) -> BucketState:
    folder = f"{state.prefix}/" if state.prefix else ""
    if state.test_file is False:
        ctx.findings.append(
            AwsFinding(
                "TestFileMissing",
                "warning",
                f"no {TEST_FILE} in s3://{state.bucket}/{folder}AWSLogs/{ctx.account}/: "
                "ELB writes it when logging is turned on",
                "If it was never written, ELB could not write to the bucket: check the policy.",
            )
        )
    base = f"{folder}AWSLogs/{ctx.account}/elasticloadbalancing/{ctx.region}/"
    lb_id = ctx.lb_arn.split(":loadbalancer/", 1)[-1]
    newest: tuple[datetime, str] | None = None
    today = ctx.now.date()
    try:
        for back in range(lookback_days + 1):
            newest = _newest_in(
                ctx, state.bucket, base + day_prefix(today - timedelta(days=back)), lb_id
            )
            if newest:
                break
    except Exception as error:
        ctx.refused("newest log file", error, "s3:ListBucket", f"s3://{state.bucket}/{base}")
        return state
    if newest is None:
        ctx.findings.append(
            AwsFinding(
                "NoRecentLogs",
                "warning",
                f"no connection-log file for this load balancer in the last {lookback_days} days",
                "Without traffic there may be no files; otherwise check the bucket policy.",
            )
        )
        return state
    at, key = newest
    if ctx.now - at > stale_after:
        ctx.findings.append(
            AwsFinding(
                "LogsStale",
                "info",
                f"the newest connection-log file arrived at {iso_z(at)}",
                "ELB writes a file per node every 5 minutes while there is traffic.",
            )
        )
    return replace_state(state, newest_key=key, newest_at=at)


def _newest_in(
    ctx: CheckContext, bucket: str, prefix: str, lb_id: str
) -> tuple[datetime, str] | None:
    best: tuple[datetime, str] | None = None
    for obj in iter_objects(ctx.s3, bucket, prefix):
        name = ConnLogName.parse(obj.key.rsplit("/", 1)[-1])
        if name is None or not lb_matches(name.lb_id, lb_id) or obj.last_modified is None:
            continue
        if best is None or obj.last_modified > best[0]:
            best = (obj.last_modified, obj.key)
    return best


def plan_enable(
    lb_arn: str,
    bucket: str,
    prefix: str = "",
    *,
    now: datetime,
    profile: str | None = None,
    region: str | None = None,
    elb: Any = None,
    s3: Any = None,
) -> EnablePlan:
    """What ``--enable`` would change, and whether the target bucket is ready for it."""
    ctx = _context(lb_arn, profile, region, now, elb, s3)
    current = _lb_attributes(ctx)
    wanted = {ATTR + "enabled": "true", ATTR + "bucket": bucket, ATTR + "prefix": prefix.strip("/")}
    changes = tuple((k, current.get(k), v) for k, v in wanted.items())
    state = inspect_bucket(ctx, bucket, prefix)
    return EnablePlan(lb_arn, changes, state, sort_findings(ctx.findings))


def apply_enable(
    plan: EnablePlan, *, profile: str | None = None, region: str | None = None, elb: Any = None
) -> None:
    """Apply ``plan`` (``modify_load_balancer_attributes``)."""
    elb = elb or aws_session.new_client(
        "elbv2", profile=profile, region=region or region_of_arn(plan.lb_arn)
    )
    try:
        elb.modify_load_balancer_attributes(
            LoadBalancerArn=plan.lb_arn,
            Attributes=[{"Key": k, "Value": v} for k, _, v in plan.changes],
        )
    except Exception as error:
        problem = translate(
            error, action="elasticloadbalancing:ModifyLoadBalancerAttributes", resource=plan.lb_arn
        )
        if error_code(error) == "InvalidConfigurationRequest":
            problem.hint = "ELB could not write its test file: fix the bucket policy and region."
        raise problem from error


__all__ = [
    "BucketState",
    "DeliveryReport",
    "EnablePlan",
    "VendedState",
    "apply_enable",
    "check_delivery",
    "plan_enable",
]
