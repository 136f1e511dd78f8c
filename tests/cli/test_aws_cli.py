"""``aws listener``, ``aws trust-store fetch``, ``aws connection-logs`` and
``diagnose --listener-arn/--trust-store-arn``: moto for S3 and load balancers, Stubber for
the listener mTLS and trust-store calls moto does not implement."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.aws import session as aws_session
from mtls_doctor.cli import cli
from tests.aws import conftest as aws_fixtures
from tests.aws.albdata import entry
from tests.aws.pkidata import AT, build, pem, serial_hex
from tests.aws.stubs import LISTENER_ARN, TRUST_STORE_ARN, add_fetch, add_listener, stubbed_elbv2
from tests.aws.test_delivery import make_lb, ready_bucket
from tests.aws.test_listener import presign

# The moto fixtures of tests/aws, shared here (one server per session).
moto_endpoint = aws_fixtures.moto_endpoint
aws_env = aws_fixtures.aws_env
s3 = aws_fixtures.s3


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def elb_stub(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every elbv2 client the CLI makes is one Stubber-fed client; S3 stays on moto."""
    client, stub = stubbed_elbv2()
    original = aws_session.new_client

    def new_client(service: str, **kwargs: Any) -> Any:
        return client if service == "elbv2" else original(service, **kwargs)

    monkeypatch.setattr(aws_session, "new_client", new_client)
    with stub:
        yield stub
    stub.assert_no_pending_responses()


def test_aws_listener_json_and_exit_codes(elb_stub: Any) -> None:
    add_listener(
        elb_stub, Mode="verify", TrustStoreArn=TRUST_STORE_ARN, AdvertiseTrustStoreCaNames="on"
    )
    ok = run("aws", "listener", LISTENER_ARN, "--format", "json")
    assert ok.exit_code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["schema_version"] == 1 and data["mutual_authentication"]["mode"] == "verify"
    assert data["trust_store"]["status"] == "ACTIVE"
    # Near miss: passthrough with a trust store named is a warning, exit 1.
    add_listener(elb_stub, Mode="passthrough", TrustStoreArn=TRUST_STORE_ARN)
    bad = run("aws", "listener", LISTENER_ARN)
    assert bad.exit_code == 1 and "PassthroughWithTrustStore" in bad.stdout


def test_aws_listener_bad_arn_is_exit_3(aws_env: str) -> None:
    result = run("aws", "listener", "arn:aws:s3:::bucket")
    assert result.exit_code == 3 and "not an Elastic Load Balancing ARN" in result.stderr


def test_aws_trust_store_fetch_runs_the_check(elb_stub: Any, s3: Any, tmp_path: Path) -> None:
    pki = build(datetime.now(UTC))
    add_fetch(elb_stub, presign(s3, "b.pem", pki.bundle), {1: presign(s3, "c.pem", pki.crl)})
    result = run(
        "aws",
        "trust-store",
        "fetch",
        TRUST_STORE_ARN,
        "--out",
        str(tmp_path / "ts"),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["check"]["ok"] and len(data["check"]["certificates"]) == 1
    assert [f["file"] for f in data["fetch"]["files"]] == ["ca-bundle.pem", "crl-1.pem"]
    # Near miss: the bundle in effect has a blank line the ALB would not accept: exit 1.
    add_fetch(elb_stub, presign(s3, "b2.pem", pki.bundle + b"\n" + pem(pki.root.cert)), {})
    bad = run("aws", "trust-store", "fetch", TRUST_STORE_ARN, "--out", str(tmp_path / "ts2"))
    assert bad.exit_code == 1 and "BundleBlankLine" in bad.stdout


def test_aws_connection_logs_enable_asks_then_applies(s3: Any, aws_env: str) -> None:
    lb_arn, account = make_lb(aws_env)
    off = run("aws", "connection-logs", lb_arn)
    assert off.exit_code == 1 and "ConnectionLogsOff" in off.stdout
    ready_bucket(s3, "conn-logs", "", account)
    dry = run(
        "aws", "connection-logs", lb_arn, "--enable", "--bucket", "conn-logs", "--format", "json"
    )
    assert dry.exit_code == 0 and json.loads(dry.stdout)["applied"] is False
    assert "nothing changed" in dry.stderr
    assert "ConnectionLogsOff" in run("aws", "connection-logs", lb_arn).stdout
    done = run("aws", "connection-logs", lb_arn, "--enable", "--bucket", "conn-logs", "--yes")
    assert done.exit_code == 0 and "connection_logs.s3.bucket: - -> conn-logs" in done.stdout
    report = run("aws", "connection-logs", lb_arn, "--format", "json")
    data = json.loads(report.stdout)
    assert data["enabled"] and data["bucket"]["policy"] == "allow"
    bad = run(
        "aws", "connection-logs", lb_arn, "--enable", "--bucket", "b", "--prefix", "x/AWSLogs"
    )
    assert bad.exit_code == 2 and "AWSLogs" in bad.stderr


def test_aws_connection_logs_without_credentials_is_exit_4(
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    arn = (
        "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"
    )
    result = run("aws", "connection-logs", arn)
    assert result.exit_code == 4 and "no usable AWS credentials" in result.stderr
    assert "elasticloadbalancing:DescribeLoadBalancerAttributes" in result.stderr


def _diagnose_inputs(tmp_path: Path) -> tuple[Any, Path, Path]:
    pki = build()
    lines = []
    for n, (issued, status) in enumerate(
        ((pki.revoked, "Failed:ClientCertCrlHit"), (pki.expired, "Failed:ClientCertExpired"))
    ):
        row = dataclasses.replace(
            entry(AT, n, status, serial_hex(issued)),
            leaf_client_cert_subject=issued.cert.subject.rfc4514_string(),
        )
        lines.append(row.to_line())
    logs = tmp_path / "conn_log_test.log"
    logs.write_text("\n".join(lines) + "\n")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "expired.pem").write_bytes(pem(pki.expired.cert) + pem(pki.root.cert))
    return pki, logs, certs


def _groups(result: Any) -> dict[str, Any]:
    assert result.exit_code == 1, result.stderr
    return {g["code"]: g for g in json.loads(result.stdout)["failures"]}


@pytest.mark.parametrize("ignore", [True, False])
def test_diagnose_with_listener_arn_uses_the_trust_store_and_expiry_setting(
    elb_stub: Any,
    s3: Any,
    tmp_path: Path,
    ignore: bool,
) -> None:
    pki, logs, certs = _diagnose_inputs(tmp_path)
    add_listener(
        elb_stub,
        Mode="verify",
        TrustStoreArn=TRUST_STORE_ARN,
        AdvertiseTrustStoreCaNames="on",
        IgnoreClientCertificateExpiry=ignore,
    )
    add_fetch(elb_stub, presign(s3, "b.pem", pki.bundle), {7: presign(s3, "c.pem", pki.crl)})
    result = run(
        "diagnose",
        str(logs),
        "--listener-arn",
        LISTENER_ARN,
        "--certs",
        str(certs),
        "--format",
        "json",
    )
    groups = _groups(result)
    revocations = groups["ClientCertCrlHit"]["correlation"][0]["revocations"]
    assert len(revocations) == 1 and revocations[0]["crl"].endswith("crl-7.pem")
    predicted = groups["ClientCertExpired"]["correlation"][0]["predicted"]
    # The listener's IgnoreClientCertificateExpiry decides the predicted verdict.
    assert predicted == ("Success" if ignore else "ClientCertExpired")


def test_diagnose_trust_store_arn_conflicts_with_local_files(aws_env: str, tmp_path: Path) -> None:
    pki, logs, _ = _diagnose_inputs(tmp_path)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.bundle)
    result = run(
        "diagnose", str(logs), "--trust-store", str(bundle), "--trust-store-arn", TRUST_STORE_ARN
    )
    assert result.exit_code == 2 and "not both" in result.stderr
