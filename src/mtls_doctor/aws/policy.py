"""Does a bucket policy let ELB deliver connection logs under ``[prefix/]AWSLogs/<account>/``?

The principals are those of spec §8.2: the log-delivery service principal, or (older
regions) the region's ELB account. Conditions are not evaluated: an ``Allow`` counts
whatever its condition, a ``Deny`` only when it has none (then it wins over any ``Allow``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

SERVICE_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
OUTPOSTS_PRINCIPAL = "logdelivery.elb.amazonaws.com"
# Regions available before August 2022 may grant the region's ELB account instead (spec §8.2).
LEGACY_ELB_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-east-1": "190560391635",
    "us-gov-west-1": "048591011584",
}


def log_key_arn(partition: str, bucket: str, prefix: str, account: str) -> str:
    """The ARN of an object ELB would write (the test file), for matching policy resources."""
    folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"arn:{partition}:s3:::{bucket}/{folder}AWSLogs/{account}/ELBConnectionLogTestFile"


def expected_resource(partition: str, bucket: str, prefix: str, account: str) -> str:
    folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"arn:{partition}:s3:::{bucket}/{folder}AWSLogs/{account}/*"


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal_is_elb(principal: Any, region: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if {SERVICE_PRINCIPAL, OUTPOSTS_PRINCIPAL} & set(_listed(principal.get("Service"))):
        return True
    legacy = LEGACY_ELB_ACCOUNTS.get(region)
    return bool(legacy) and any(
        p == legacy or p.endswith(f"::{legacy}:root") or p == "*"
        for p in _listed(principal.get("AWS"))
    )


def _matches(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def delivery_decision(policy: dict[str, Any], *, key_arn: str, region: str) -> str:
    """``allow``, ``deny`` (a Deny statement matches) or ``missing`` (no Allow matches)."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or "NotPrincipal" in statement:
            continue
        if not _principal_is_elb(statement.get("Principal"), region):
            continue
        if not _matches(_listed(statement.get("Action")), "s3:PutObject"):
            continue
        if not _matches(_listed(statement.get("Resource")), key_arn):
            continue
        if statement.get("Effect") == "Deny":
            if "Condition" in statement:  # e.g. deny-insecure-transport: not about ELB
                continue
            return "deny"
        allowed = allowed or statement.get("Effect") == "Allow"
    return "allow" if allowed else "missing"
