"""``aws listener`` and the listener's security policy, against moto[server] on 127.0.0.1:
the policy and its protocols, TLS 1.0/1.1 said, ``policy check`` suggested."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mtls_doctor.aws.listener import describe_listener, policy_findings
from mtls_doctor.cli import cli
from tests.aws.test_delivery import REGION, make_lb


def make_listener(aws_env: str, ssl_policy: str) -> str:
    import boto3

    lb, _ = make_lb(aws_env)
    acm = boto3.client("acm", region_name=REGION)
    cert = acm.request_certificate(DomainName="web.example.com")["CertificateArn"]
    elb = boto3.client("elbv2", region_name=REGION)
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTPS",
        Port=443,
        SslPolicy=ssl_policy,
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )
    return str(listener["Listeners"][0]["ListenerArn"])


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_legacy_policy_is_a_warning_with_policy_check_commands(aws_env: str) -> None:
    arn = make_listener(aws_env, "ELBSecurityPolicy-2016-08")
    code, out, err = run("aws", "listener", arn, "--format", "json")
    assert code == 1, err  # a warning: TLS 1.0/1.1 are still allowed
    data = json.loads(out)
    assert data["ssl_policy"] == "ELBSecurityPolicy-2016-08"
    assert data["ssl_policy_protocols"] == ["TLSv1.2", "TLSv1.1", "TLSv1"]
    legacy = next(f for f in data["findings"] if f["code"] == "LegacyTlsAllowed")
    assert legacy["severity"] == "warning"
    assert "allows TLS 1.1 and TLS 1.0" in legacy["message"]
    assert "mtls-doctor policy check ELBSecurityPolicy-2016-08 LOGS" in legacy["fix"]
    assert (
        "policy check --compare ELBSecurityPolicy-2016-08 "
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 LOGS" in legacy["fix"]
    )
    code, out, _ = run("aws", "listener", arn)
    assert "security policy:                ELBSecurityPolicy-2016-08 (TLSv1.2, TLSv1.1" in out


def test_modern_policy_is_a_note_suggesting_the_next_step(aws_env: str) -> None:
    arn = make_listener(aws_env, "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09")
    settings = describe_listener(arn, region=REGION)
    found = {f.code: f for f in settings.findings}
    assert "LegacyTlsAllowed" not in found
    note = found["SecurityPolicy"]
    assert note.severity == "info" and "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09" in note.fix


@pytest.mark.parametrize(
    ("name", "code", "needle"),
    [
        ("ELBSecurityPolicy-TLS-1-1-2017-01", "LegacyTlsAllowed", "allows TLS 1.1"),
        ("ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04", "LegacyTlsAllowed", "Res-FIPS-2023-04"),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", "SecurityPolicy", "LOGS"),
        ("ELBSecurityPolicy-Custom-1999", "SecurityPolicyUnknown", "policy list --live"),
    ],
)
def test_policy_findings(name: str, code: str, needle: str) -> None:
    (finding,) = policy_findings(name)
    assert finding.code == code
    assert needle in finding.message + finding.fix
    if name.endswith("1-3-2021-06"):  # already TLS 1.3 only: no stricter one to compare
        assert "--compare" not in finding.fix
