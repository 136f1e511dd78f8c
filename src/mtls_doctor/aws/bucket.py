"""The log bucket, as ELB needs it: same region, SSE-S3, a policy that lets it write (spec §8.2).

Each check that S3 refuses (the bucket may belong to another account) becomes a finding,
not a failure, so the other checks still run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mtls_doctor.aws.findings import AwsFinding
from mtls_doctor.aws.policy import delivery_decision, expected_resource, log_key_arn
from mtls_doctor.aws.session import error_code, translate
from mtls_doctor.timeutil import iso_z

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


@dataclass
class CheckContext:
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


def inspect_bucket(ctx: CheckContext, bucket: str, prefix: str) -> BucketState:
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


def _region(ctx: CheckContext, state: BucketState) -> BucketState:
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
    return replace_state(state, region=bucket_region)


def _encryption(ctx: CheckContext, state: BucketState) -> BucketState:
    try:
        rules = ctx.s3.get_bucket_encryption(Bucket=state.bucket)[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
    except Exception as error:
        if error_code(error) == "ServerSideEncryptionConfigurationNotFoundError":
            return replace_state(state, encryption="none")
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
    return replace_state(state, encryption=algorithm)


def _policy(ctx: CheckContext, state: BucketState) -> BucketState:
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
            return replace_state(state, policy="no-policy")
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
    return replace_state(state, policy=decision)


def _test_file(ctx: CheckContext, state: BucketState) -> BucketState:
    folder = f"{state.prefix}/" if state.prefix else ""
    key = f"{folder}AWSLogs/{ctx.account}/{TEST_FILE}"
    try:
        ctx.s3.head_object(Bucket=state.bucket, Key=key)
    except Exception as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return replace_state(state, test_file=False)
        ctx.refused("test file", error, "s3:GetObject", f"s3://{state.bucket}/{key}")
        return state
    return replace_state(state, test_file=True)


def replace_state(state: BucketState, **changes: Any) -> BucketState:
    return BucketState(**{**state.__dict__, **changes})
