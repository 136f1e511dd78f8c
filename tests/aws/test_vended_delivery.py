"""``aws connection-logs`` and vended delivery (CloudWatch Logs, ``ALB_CONNECTION_LOGS``).

The load balancer and its attributes live in moto; the CloudWatch Logs delivery calls go
through botocore's Stubber, which checks every request and response against the installed
``logs`` model: moto implements the delivery APIs but refuses an ELB resource ("Cannot
access provided service"), so it cannot stand for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.cloudwatch import GroupRef
from mtls_doctor.aws.delivery import check_delivery
from mtls_doctor.aws.findings import has_problems
from mtls_doctor.aws.vended_delivery import RECORD_FIELDS, destination_type
from mtls_doctor.cli import cli
from mtls_doctor.errors import InputError
from tests.aws.test_delivery import make_lb

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
BUCKET_ARN = "arn:aws:s3:::conn-logs"
GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/alb/conn"
DEST_ARN = "arn:aws:logs:us-east-1:123456789012:delivery-destination:web-conn-s3"


@pytest.fixture
def logs(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A Stubber-fed logs client, handed to mtls-doctor for every "logs" client it makes."""
    import boto3

    client = boto3.client("logs", region_name="us-east-1")
    original = aws_session.new_client

    def new_client(service: str, **kwargs: Any) -> Any:
        return client if service == "logs" else original(service, **kwargs)

    monkeypatch.setattr(aws_session, "new_client", new_client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def add_sources(stub: Stubber, lb_arn: str, *sources: dict[str, Any]) -> None:
    stub.add_response(
        "describe_delivery_sources",
        {
            "deliverySources": [
                {
                    "arn": f"arn:aws:logs:us-east-1:123456789012:delivery-source:{s['name']}",
                    "resourceArns": [lb_arn],
                    "service": "elasticloadbalancing",
                    "logType": "ALB_CONNECTION_LOGS",
                    "status": "ACTIVE",
                    **s,
                }
                for s in sources
            ]
        },
        {"resourceArns": [lb_arn]},
    )


def add_deliveries(stub: Stubber, names: list[str], *deliveries: dict[str, Any]) -> None:
    stub.add_response(
        "describe_deliveries",
        {"deliveries": list(deliveries)},
        {"deliverySourceNames": names},
    )


def add_destination(stub: Stubber, name: str, resource: str, fmt: str, kind: str = "S3") -> None:
    stub.add_response(
        "get_delivery_destination",
        {
            "deliveryDestination": {
                "name": name,
                "arn": f"arn:aws:logs:us-east-1:123456789012:delivery-destination:{name}",
                "deliveryDestinationType": kind,
                "outputFormat": fmt,
                "deliveryDestinationConfiguration": {"destinationResourceArn": resource},
            }
        },
        {"name": name},
    )


def s3_delivery(fields: tuple[str, ...] = RECORD_FIELDS) -> dict[str, Any]:
    return {
        "id": "d123",
        "arn": "arn:aws:logs:us-east-1:123456789012:delivery:d123",
        "deliverySourceName": "web-conn-logs",
        "deliveryDestinationArn": DEST_ARN,
        "deliveryDestinationType": "S3",
        "recordFields": list(fields),
        "s3DeliveryConfiguration": {"enableHiveCompatiblePath": True},
    }


def codes(report: Any) -> dict[str, str]:
    return {f.code: f.severity for f in report.findings}


def test_report_names_source_destination_format_and_fields(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn, {"name": "web-conn-logs"})
    add_deliveries(logs, ["web-conn-logs"], s3_delivery())
    add_destination(logs, "web-conn-s3", BUCKET_ARN, "parquet")
    code, out, err = invoke("aws", "connection-logs", lb_arn, "--format", "json")
    # The legacy attributes are off, but the logs are delivered: nothing to warn about.
    assert code == 0, err
    report = json.loads(out)
    (delivery,) = report["vended"]["deliveries"]
    assert report["vended"]["sources"] == [{"name": "web-conn-logs", "status": "ACTIVE"}]
    assert delivery["destination_resource"] == BUCKET_ARN
    assert (delivery["output_format"], delivery["hive_compatible_path"]) == ("parquet", True)
    assert delivery["record_fields"] == list(RECORD_FIELDS) and RECORD_FIELDS[0] == "time"
    found = {f["code"]: f["severity"] for f in report["findings"]}
    assert found == {"ConnectionLogsOff": "info", "VendedDelivery": "info"}
    # How to read them: the Hive-style folder of the LB's account and region.
    (fix,) = [f["fix"] for f in report["findings"] if f["code"] == "VendedDelivery"]
    folder = (
        "s3://conn-logs/AWSLogs/aws-account-id=123456789012/elasticloadbalancing/region=us-east-1/"
    )
    assert f"athena ddl --kind parquet --location {folder}" in fix and "UNCONFIRMED" in fix


def test_report_text_shows_the_delivery(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn, {"name": "web-conn-logs"})
    add_deliveries(logs, ["web-conn-logs"], s3_delivery())
    add_destination(logs, "web-conn-s3", BUCKET_ARN, "json")
    code, out, _ = invoke("aws", "connection-logs", lb_arn)
    assert code == 0
    assert "vended delivery: source(s) web-conn-logs" in out
    assert f"destination:   S3 {BUCKET_ARN}" in out
    assert "output format: json, Hive-compatible paths" in out
    assert "record fields: time, client_ip," in out


def test_without_any_delivery_logs_off_is_a_warning(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn)
    report = check_delivery(lb_arn, now=NOW)
    assert codes(report) == {"ConnectionLogsOff": "warning"}
    assert report.vended is not None and report.vended.sources == ()
    assert "--enable-vended" in report.findings[0].fix


def test_fields_left_out_an_inactive_source_and_a_source_without_delivery(
    logs: Stubber, aws_env: str
) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(
        logs,
        lb_arn,
        {"name": "web-conn-logs", "status": "INACTIVE", "statusReason": "RESOURCE_DELETED"},
        {"name": "spare"},
    )
    short = tuple(f for f in RECORD_FIELDS if f != "tls_verify_status")
    add_deliveries(logs, ["web-conn-logs", "spare"], s3_delivery(short))
    add_destination(logs, "web-conn-s3", GROUP_ARN, "raw", kind="CWL")
    report = check_delivery(lb_arn, now=NOW)
    found = codes(report)
    assert found["VendedFieldsMissing"] == "warning"
    assert found["VendedSourceInactive"] == found["VendedNoDelivery"] == "warning"
    assert found["VendedFormatUnread"] == "warning"
    missing = next(f for f in report.findings if f.code == "VendedFieldsMissing")
    assert "tls_verify_status" in missing.message
    delivered = next(f for f in report.findings if f.code == "VendedDelivery")
    # The group's ARN, which carries its region (us-east-1), whatever the user's default.
    assert delivered.fix == f"Read them: mtls-doctor diagnose {GROUP_ARN}"
    hinted = GroupRef.parse(delivered.fix.rsplit(" ", 1)[1])
    assert hinted == GroupRef("/alb/conn", "us-east-1", "123456789012")
    assert has_problems(report.findings)  # the command exits 1


def test_refused_delivery_reads_are_findings_not_failures(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    logs.add_client_error("describe_delivery_sources", "AccessDeniedException", "no", 400)
    code, out, err = invoke("aws", "connection-logs", lb_arn, "--format", "json")
    assert code == 1, err  # a warning: the rest of the checks ran
    report = json.loads(out)
    assert report["vended"] is None
    refused = [f for f in report["findings"] if f["code"] == "CheckRefused"]
    assert "logs:DescribeDeliverySources" in refused[0]["message"]
    assert "Traceback" not in err


def test_another_accounts_destination_is_reported_as_refused(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn, {"name": "web-conn-logs"})
    add_deliveries(logs, ["web-conn-logs"], s3_delivery())
    logs.add_client_error("get_delivery_destination", "AccessDeniedException", "other account")
    report = check_delivery(lb_arn, now=NOW)
    assert report.vended is not None
    (delivery,) = report.vended.deliveries
    assert delivery.destination_resource is None and delivery.destination_type == "S3"
    refused = next(f for f in report.findings if f.code == "CheckRefused")
    assert "logs:GetDeliveryDestination" in refused.message


def _expect_creation(
    stub: Stubber, lb_arn: str, fmt: str, source: str, dest: str, *, refuse: bool = False
) -> None:
    stub.add_response(
        "put_delivery_source",
        {"deliverySource": {"name": source, "logType": "ALB_CONNECTION_LOGS"}},
        {"name": source, "resourceArn": lb_arn, "logType": "ALB_CONNECTION_LOGS"},
    )
    dest_arn = f"arn:aws:logs:us-east-1:123456789012:delivery-destination:{dest}"
    stub.add_response(
        "put_delivery_destination",
        {"deliveryDestination": {"name": dest, "arn": dest_arn, "outputFormat": fmt}},
        {
            "name": dest,
            "outputFormat": fmt,
            "deliveryDestinationConfiguration": {"destinationResourceArn": BUCKET_ARN},
        },
    )
    if refuse:
        stub.add_client_error("create_delivery", "AccessDeniedException", "not authorized", 400)
        return
    stub.add_response(
        "create_delivery",
        {
            "delivery": {
                "id": "new1",
                "deliverySourceName": source,
                "recordFields": list(RECORD_FIELDS),
            }
        },
        {
            "deliverySourceName": source,
            "deliveryDestinationArn": dest_arn,
            "recordFields": list(RECORD_FIELDS),
            "s3DeliveryConfiguration": {"enableHiveCompatiblePath": True},
        },
    )


def _names(lb_arn: str) -> tuple[str, str]:
    name, lb_id = lb_arn.split(":loadbalancer/app/")[1].split("/")
    return f"{name}-{lb_id[:8]}-conn-logs", f"{name}-{lb_id[:8]}-conn-s3"


def test_enable_vended_shows_the_calls_then_creates_them(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn)
    source, dest = _names(lb_arn)
    _expect_creation(logs, lb_arn, "parquet", source, dest)
    code, out, err = invoke(
        "aws", "connection-logs", lb_arn, "--enable-vended", BUCKET_ARN,
        "--output-format", "parquet", "--yes",
    )  # fmt: skip
    assert code == 0, err
    assert out.index("logs:PutDeliverySource") < out.index("logs:PutDeliveryDestination")
    assert out.index("logs:PutDeliveryDestination") < out.index("logs:CreateDelivery")
    assert "logType: ALB_CONNECTION_LOGS" in out and "outputFormat: parquet" in out
    assert "created delivery new1" in err


def test_enable_vended_json_defaults_to_json(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn)
    source, dest = _names(lb_arn)
    _expect_creation(logs, lb_arn, "json", source, dest)
    code, out, err = invoke(
        "aws", "connection-logs", lb_arn, "--enable-vended", BUCKET_ARN, "--yes", "--format", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["applied"] is True and result["delivery"]["delivery_id"] == "new1"
    actions = [c["action"] for c in result["calls"]]
    assert actions == [
        "logs:PutDeliverySource",
        "logs:PutDeliveryDestination",
        "logs:CreateDelivery",
    ]
    assert result["calls"][1]["parameters"]["outputFormat"] == "json"


def test_enable_vended_without_yes_changes_nothing(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn)  # the plan reads what exists; no Put* call may follow
    code, out, err = invoke("aws", "connection-logs", lb_arn, "--enable-vended", BUCKET_ARN)
    assert code == 0
    assert "logs:CreateDelivery" in out and "nothing changed; add --yes" in err


def test_enable_vended_where_it_already_goes_does_nothing(logs: Stubber, aws_env: str) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn, {"name": "web-conn-logs"})
    add_deliveries(logs, ["web-conn-logs"], s3_delivery())
    add_destination(logs, "web-conn-s3", BUCKET_ARN, "json")
    code, _, err = invoke("aws", "connection-logs", lb_arn, "--enable-vended", BUCKET_ARN, "--yes")
    assert code == 0 and "nothing to do: delivery d123 already goes there" in err


@pytest.mark.parametrize("failing", ["put_delivery_source", "create_delivery"])
def test_enable_vended_access_denied_is_exit_4_naming_the_action(
    logs: Stubber, aws_env: str, failing: str
) -> None:
    lb_arn, _ = make_lb(aws_env)
    add_sources(logs, lb_arn)
    source, dest = _names(lb_arn)
    if failing == "create_delivery":
        _expect_creation(logs, lb_arn, "json", source, dest, refuse=True)
    else:
        logs.add_client_error(failing, "AccessDeniedException", "not authorized", 400)
    code, _, err = invoke("aws", "connection-logs", lb_arn, "--enable-vended", BUCKET_ARN, "--yes")
    action = {"put_delivery_source": "PutDeliverySource", "create_delivery": "CreateDelivery"}
    assert code == 4
    assert f"access denied to logs:{action[failing]}" in err and "Traceback" not in err
    if failing == "create_delivery":
        assert f"{source} and destination {dest} exist now; a re-run reuses them" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--enable", "--enable-vended", BUCKET_ARN), 2, "not both"),
        (("--output-format", "json"), 2, "go with --enable-vended"),
        (("--enable-vended", GROUP_ARN, "--output-format", "parquet"), 2, "takes json, plain"),
        (("--enable-vended", "arn:aws:sqs:us-east-1:1:q"), 3, "not a bucket, log group"),
    ],
)
def test_enable_vended_usage(
    logs: Stubber, aws_env: str, args: tuple[str, ...], code: int, message: str
) -> None:
    lb_arn = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/0123456789abcdef"
    )
    got, out, err = invoke("aws", "connection-logs", lb_arn, *args)
    assert out == "" and got == code and message in err and "Traceback" not in err


def test_a_network_load_balancer_has_no_connection_logs(logs: Stubber, aws_env: str) -> None:
    nlb = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/web/0123456789abcdef"
    )
    code, _, err = invoke("aws", "connection-logs", nlb, "--enable-vended", BUCKET_ARN)
    assert code == 3 and "not an Application Load Balancer" in err


@pytest.mark.parametrize(
    ("arn", "kind"),
    [
        (BUCKET_ARN, "S3"),
        (GROUP_ARN, "CWL"),
        (GROUP_ARN + ":*", "CWL"),
        ("arn:aws:firehose:us-east-1:123456789012:deliverystream/alb", "FH"),
    ],
)
def test_destination_types(arn: str, kind: str) -> None:
    assert destination_type(arn) == kind
    with pytest.raises(InputError):
        destination_type("arn:aws:s3:::bucket/key")
