"""Connection-log delivery: is it on, where to, and can ELB write there (spec §8).

Each S3 check that is refused (the bucket may belong to another account) becomes a
finding, not a failure, so the other checks still run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.findings import AwsFinding, sort_findings
from mtls_doctor.aws.layout import ConnLogName, day_prefix, lb_matches
from mtls_doctor.aws.policy import delivery_decision, expected_resource, log_key_arn
from mtls_doctor.aws.s3 import iter_objects
from mtls_doctor.aws.session import (
    account_of_arn,
    check_arn,
    error_code,
    partition_of_arn,
    region_of_arn,
    translate,
)
from mtls_doctor.errors import InputError
from mtls_doctor.timeutil import iso_z

ATTR = "connection_logs.s3."
TEST_FILE = "ELBConnectionLogTestFile"


@dataclass(frozen=True)
class BucketState:
    """What could be read about the log bucket; ``None`` where a check was refused."""

    bucket: str
    prefix: str
    region: str | None = None
    encryption: str | None = None  # AES256, aws:kms, ..., "none" when not configured
    policy: str | None = None  # allow | deny | missing | no-policy
    test_file: bool | None = None
    newest_key: str | None = None
    newest_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region,
            "encryption": self.encryption,
            "policy": self.policy,
            "test_file": self.test_file,
            "newest_log_key": self.newest_key,
            "newest_log_at": iso_z(self.newest_at),
        }


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "load_balancer_arn": self.lb_arn,
            "region": self.region,
            "account": self.account,
            "enabled": self.enabled,
            "bucket": self.bucket.to_dict() if self.bucket else None,
            "checked_at": iso_z(self.checked_at),
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


@dataclass
class _Context:
    lb_arn: str
    region: str
    account: str
    partition: str
    elb: Any
    s3: Any
    now: datetime
    findings: list[AwsFinding] = field(default_factory=list)

    def refused(self, what: str, error: Exception, action: str, resource: str) -> None:
        problem = translate(error, action=action, resource=resource)
        self.findings.append(
            AwsFinding(
                "CheckRefused", "warning", f"{what} not checked: {problem}", problem.hint or ""
            )
        )


def _context(
    lb_arn: str, profile: str | None, region: str | None, now: datetime, elb: Any, s3: Any
) -> _Context:
    check_arn(lb_arn, "loadbalancer")
    lb_region = region_of_arn(lb_arn) or region or ""
    account = account_of_arn(lb_arn) or ""
    elb = elb or aws_session.new_client("elbv2", profile=profile, region=region or lb_region)
    s3 = s3 or aws_session.new_client("s3", profile=profile, region=region or lb_region)
    return _Context(lb_arn, lb_region, account, partition_of_arn(lb_arn), elb, s3, now)


def _lb_attributes(ctx: _Context) -> dict[str, str]:
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
) -> DeliveryReport:
    """Check where connection logs of ``lb_arn`` go and whether ELB can write there."""
    ctx = _context(lb_arn, profile, region, now, elb, s3)
    attributes = _lb_attributes(ctx)
    enabled = attributes.get(ATTR + "enabled", "false").lower() == "true"
    bucket_name = attributes.get(ATTR + "bucket") or ""
    if not enabled:
        ctx.findings.append(
            AwsFinding(
                "ConnectionLogsOff",
                "warning",
                "connection logs are off for this load balancer",
                "Turn them on: mtls-doctor aws connection-logs LB_ARN --enable --bucket BUCKET",
            )
        )
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
        lb_arn, ctx.region, ctx.account, enabled, state, sort_findings(ctx.findings), now
    )


def inspect_bucket(ctx: _Context, bucket: str, prefix: str) -> BucketState:
    """Region, encryption, policy and test file of ``bucket``, with findings in ``ctx``."""
    prefix = prefix.strip("/")
    if "AWSLogs" in prefix:
        ctx.findings.append(
            AwsFinding(
                "PrefixHasAwsLogs",
                "error",
                f"the prefix {prefix!r} contains AWSLogs",
                "Choose a prefix without AWSLogs; ELB adds it itself.",
            )
        )
    state = BucketState(bucket, prefix)
    state = _region(ctx, state)
    state = _encryption(ctx, state)
    state = _policy(ctx, state)
    return _test_file(ctx, state)


def _region(ctx: _Context, state: BucketState) -> BucketState:
    try:
        location = ctx.s3.get_bucket_location(Bucket=state.bucket).get("LocationConstraint")
    except Exception as error:
        ctx.refused("bucket region", error, "s3:GetBucketLocation", f"s3://{state.bucket}")
        return state
    bucket_region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    if bucket_region != ctx.region:
        ctx.findings.append(
            AwsFinding(
                "BucketInOtherRegion",
                "error",
                f"bucket {state.bucket} is in {bucket_region}, the load balancer in {ctx.region}",
                "Use a bucket in the load balancer's region.",
            )
        )
    return _replace(state, region=bucket_region)


def _encryption(ctx: _Context, state: BucketState) -> BucketState:
    try:
        rules = ctx.s3.get_bucket_encryption(Bucket=state.bucket)[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
    except Exception as error:
        if error_code(error) == "ServerSideEncryptionConfigurationNotFoundError":
            return _replace(state, encryption="none")
        ctx.refused(
            "bucket encryption", error, "s3:GetEncryptionConfiguration", f"s3://{state.bucket}"
        )
        return state
    algorithm = (
        (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm", "none")
        if rules
        else "none"
    )
    if algorithm != "AES256" and algorithm != "none":
        ctx.findings.append(
            AwsFinding(
                "BucketNotSseS3",
                "error",
                f"bucket {state.bucket} encrypts with {algorithm}; connection logs need SSE-S3",
                "Set the bucket's default encryption to SSE-S3 (AES256), or use another bucket.",
            )
        )
    return _replace(state, encryption=algorithm)


def _policy(ctx: _Context, state: BucketState) -> BucketState:
    resource = expected_resource(ctx.partition, state.bucket, state.prefix, ctx.account)
    fix = (
        "Allow s3:PutObject on "
        f"{resource} to the service principal logdelivery.elasticloadbalancing.amazonaws.com."
    )
    try:
        text = ctx.s3.get_bucket_policy(Bucket=state.bucket)["Policy"]
    except Exception as error:
        if error_code(error) == "NoSuchBucketPolicy":
            ctx.findings.append(
                AwsFinding(
                    "BucketPolicyMissing", "error", f"bucket {state.bucket} has no policy", fix
                )
            )
            return _replace(state, policy="no-policy")
        ctx.refused("bucket policy", error, "s3:GetBucketPolicy", f"s3://{state.bucket}")
        return state
    key_arn = log_key_arn(ctx.partition, state.bucket, state.prefix, ctx.account)
    decision = delivery_decision(json.loads(text), key_arn=key_arn, region=ctx.region)
    if decision != "allow":
        verb = "denies" if decision == "deny" else "does not allow"
        ctx.findings.append(
            AwsFinding(
                "BucketPolicyRefusesDelivery",
                "error",
                f"the policy of {state.bucket} {verb} ELB log delivery to {resource}",
                fix,
            )
        )
    return _replace(state, policy=decision)


def _test_file(ctx: _Context, state: BucketState) -> BucketState:
    folder = f"{state.prefix}/" if state.prefix else ""
    key = f"{folder}AWSLogs/{ctx.account}/{TEST_FILE}"
    try:
        ctx.s3.head_object(Bucket=state.bucket, Key=key)
    except Exception as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return _replace(state, test_file=False)
        ctx.refused("test file", error, "s3:GetObject", f"s3://{state.bucket}/{key}")
        return state
    return _replace(state, test_file=True)


def _newest(
    ctx: _Context, state: BucketState, lookback_days: int, stale_after: timedelta
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
    return _replace(state, newest_key=key, newest_at=at)


def _newest_in(ctx: _Context, bucket: str, prefix: str, lb_id: str) -> tuple[datetime, str] | None:
    best: tuple[datetime, str] | None = None
    for obj in iter_objects(ctx.s3, bucket, prefix):
        name = ConnLogName.parse(obj.key.rsplit("/", 1)[-1])
        if name is None or not lb_matches(name.lb_id, lb_id) or obj.last_modified is None:
            continue
        if best is None or obj.last_modified > best[0]:
            best = (obj.last_modified, obj.key)
    return best


def _replace(state: BucketState, **changes: Any) -> BucketState:
    return BucketState(**{**state.__dict__, **changes})


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
    "apply_enable",
    "check_delivery",
    "date",
    "plan_enable",
]
