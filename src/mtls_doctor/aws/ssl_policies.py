"""``DescribeSSLPolicies``: the security policies as AWS has them now (``policy ... --live``).

The only fully authoritative source of the policy table (spec §1); the result is the same
:class:`~mtls_doctor.knowledge.policies.SecurityPolicy` the snapshot gives, so every use of a
policy works with either.
"""

from __future__ import annotations

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.session import translate
from mtls_doctor.knowledge.policies import SecurityPolicy, policy_from_describe

ACTION = "elasticloadbalancing:DescribeSSLPolicies"


def describe_ssl_policies(
    *, profile: str | None = None, region: str | None = None
) -> tuple[SecurityPolicy, ...]:
    """Every Application Load Balancer policy AWS returns, in AWS's order (all pages)."""
    client = aws_session.new_client("elbv2", profile=profile, region=region)
    policies: list[SecurityPolicy] = []
    try:
        paginator = client.get_paginator("describe_ssl_policies")
        for page in paginator.paginate(LoadBalancerType="application"):
            policies.extend(policy_from_describe(item) for item in page.get("SslPolicies", []))
    except Exception as error:
        raise translate(error, action=ACTION, resource="security policies") from None
    return tuple(policies)
