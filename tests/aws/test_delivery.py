"""Connection-log delivery checks against moto (ELBv2 load-balancer attributes and S3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mtls_doctor.aws.delivery import apply_enable, check_delivery, plan_enable
from mtls_doctor.aws.policy import delivery_decision, log_key_arn

REGION = "us-east-1"
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def make_lb(aws_env: str) -> tuple[str, str]:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", region_name=REGION)
    lb = elb.create_load_balancer(Name="web", Subnets=subnets, Type="application")
    arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    return arn, arn.split(":")[4]


def policy(bucket: str, prefix: str, account: str, principal: Any = None) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": principal
                    or {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/{account}/*",
                }
            ],
        }
    )


def ready_bucket(s3: Any, bucket: str, prefix: str, account: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, prefix, account))
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def codes(report: Any) -> set[str]:
    return {f.code for f in report.findings}


def test_logs_off_then_enabled_to_a_ready_bucket(s3: Any, aws_env: str) -> None:
    lb_arn, account = make_lb(aws_env)
    off = check_delivery(lb_arn, now=NOW)
    assert not off.enabled and codes(off) == {"ConnectionLogsOff"}
    ready_bucket(s3, "conn-logs", "web/", account)
    plan = plan_enable(lb_arn, "conn-logs", "web", now=NOW)
    assert plan.changes[0][0::2] == ("connection_logs.s3.enabled", "true")  # moto: current None
    assert not [f for f in plan.findings if f.severity == "error"]
    apply_enable(plan)
    lb_id = lb_arn.split(":loadbalancer/")[1].replace("/", ".")
    base = f"web/AWSLogs/{account}/"
    s3.put_object(Bucket="conn-logs", Key=base + "ELBConnectionLogTestFile", Body=b"")
    key = (
        f"{base}elasticloadbalancing/{REGION}/2024/05/02/conn_log_{account}_elasticloadbalancing_"
        f"{REGION}_{lb_id}_20240502T1155Z_10.0.0.5_abc.log.gz"
    )
    s3.put_object(Bucket="conn-logs", Key=key, Body=b"")
    report = check_delivery(lb_arn, now=NOW)
    assert report.enabled and report.bucket is not None
    assert report.bucket.policy == "allow" and report.bucket.encryption == "AES256"
    assert report.bucket.region == REGION and report.bucket.test_file is True
    assert report.bucket.newest_key == key and report.findings == ()
    assert report.to_dict()["bucket"]["prefix"] == "web"


def test_kms_bucket_without_policy_or_test_file(s3: Any, aws_env: str) -> None:
    lb_arn, _account = make_lb(aws_env)
    s3.create_bucket(Bucket="bad-logs")
    s3.put_bucket_encryption(
        Bucket="bad-logs",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    plan = plan_enable(lb_arn, "bad-logs", "", now=NOW)
    apply_enable(plan)  # moto accepts what AWS would refuse: the checks must catch it
    report = check_delivery(lb_arn, now=NOW)
    assert {"BucketNotSseS3", "BucketPolicyMissing", "TestFileMissing", "NoRecentLogs"} <= codes(
        report
    )


def test_bucket_in_another_region(s3: Any, aws_env: str) -> None:
    lb_arn, _account = make_lb(aws_env)
    s3.create_bucket(
        Bucket="eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    plan = plan_enable(lb_arn, "eu-logs", "", now=NOW)
    assert "BucketInOtherRegion" in {f.code for f in plan.findings}
    assert plan.bucket.region == "eu-west-1"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({}, "allow"),
        ({"Resource": "arn:aws:s3:::b/other/AWSLogs/111122223333/*"}, "missing"),
        ({"Principal": {"AWS": "arn:aws:iam::127311923021:root"}}, "allow"),  # legacy us-east-1
        ({"Principal": {"AWS": "arn:aws:iam::999999999999:root"}}, "missing"),
        ({"Action": "s3:GetObject"}, "missing"),
        ({"Action": "s3:*"}, "allow"),
        ({"Effect": "Deny"}, "deny"),
    ],
)
def test_policy_decision(statement: dict[str, Any], expected: str) -> None:
    base = {
        "Effect": "Allow",
        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/p/AWSLogs/111122223333/*",
    }
    doc = {"Statement": [{**base, **statement}]}
    key = log_key_arn("aws", "b", "p", "111122223333")
    assert delivery_decision(doc, key_arn=key, region="us-east-1") == expected


def test_deny_with_a_condition_does_not_count() -> None:
    allow = json.loads(policy("b", "", "111122223333"))["Statement"][0]
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    key = log_key_arn("aws", "b", "", "111122223333")
    assert (
        delivery_decision({"Statement": [allow, deny]}, key_arn=key, region="us-east-1") == "allow"
    )
    del deny["Condition"]
    assert (
        delivery_decision({"Statement": [allow, deny]}, key_arn=key, region="us-east-1") == "deny"
    )
