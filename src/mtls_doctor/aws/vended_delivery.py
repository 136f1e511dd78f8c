"""Vended delivery of connection logs: CloudWatch Logs ``ALB_CONNECTION_LOGS`` (spec §2).

Since July 2026 an ALB can deliver its connection logs through CloudWatch Logs, to a log
group, a Firehose stream or S3, instead of (or beside) the ``connection_logs.s3.*``
attributes. That delivery is three CloudWatch Logs resources, not an LB attribute: a
delivery *source* (the LB ARN and the log type), a delivery *destination* (the log group,
bucket or stream, and the output format) and a *delivery* pairing them (record fields,
delimiter, S3 path options). :func:`read_vended` reports them for one load balancer;
:mod:`.vended_enable` sets one up (``--enable-vended``).

moto implements the delivery APIs but refuses an ELB resource ("Cannot access provided
service"), so the tests feed these calls through botocore's Stubber, which checks every
request and response against the installed ``logs`` model (botocore 1.44.8 knows the ALB
log types; 1.43.11 did not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.findings import AwsFinding
from mtls_doctor.aws.session import region_of_arn, translate
from mtls_doctor.errors import InputError
from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES

LOG_TYPE = "ALB_CONNECTION_LOGS"
# The record fields of ALB_CONNECTION_LOGS (spec §2.2): the legacy names, `time` first.
RECORD_FIELDS: tuple[str, ...] = VENDED_FIELD_NAMES
# What a diagnosis cannot do without (the others only narrow or enrich it).
NEEDED_FIELDS = (
    "time",
    "client_ip",
    "tls_verify_status",
    "leaf_client_cert_subject",
    "leaf_client_cert_validity",
    "leaf_client_cert_serial_number",
)
# Output formats by destination type [MODEL, CDK enums, spec §2.3].
FORMATS = {
    "S3": ("json", "plain", "w3c", "parquet"),
    "CWL": ("json", "plain"),
    "FH": ("json", "plain", "raw"),
}
# json is the one format every destination takes, its keys are the documented field names,
# and mtls-doctor reads it from files, S3 and log groups alike; parquet is cheaper to scan
# with Athena (athena ddl --kind parquet) but exists for S3 only.
DEFAULT_FORMAT = "json"
READABLE = ("json", "plain", "w3c", "parquet")  # what the log readers detect (issue #17)


def destination_type(arn: str) -> str:
    """``S3``, ``CWL`` or ``FH`` for a bucket, log group or Firehose stream ARN."""
    parts = arn.split(":")
    service = parts[2] if len(parts) > 5 and parts[0] == "arn" else ""
    if service == "s3" and parts[5] and "/" not in parts[5]:
        return "S3"
    if service == "logs" and parts[5].startswith("log-group"):
        return "CWL"
    if service == "firehose" and parts[5].startswith("deliverystream/"):
        return "FH"
    raise InputError(
        f"{arn}: not a bucket, log group or Firehose stream ARN",
        hint="e.g. arn:aws:s3:::my-logs, arn:aws:logs:eu-west-1:111122223333:log-group:/alb/conn, "
        "arn:aws:firehose:eu-west-1:111122223333:deliverystream/alb-conn",
    )


@dataclass(frozen=True)
class VendedDelivery:
    """One delivery of the load balancer's connection logs, with its destination."""

    delivery_id: str
    source_name: str
    destination_arn: str  # the delivery destination (a CloudWatch Logs resource)
    destination_type: str | None  # S3, CWL, FH
    destination_resource: str | None  # the bucket, log group or stream; None if unread
    output_format: str | None
    record_fields: tuple[str, ...]  # empty: the delivery names none (all fields, UNCONFIRMED)
    field_delimiter: str | None = None
    hive_paths: bool | None = None
    suffix_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "source": self.source_name,
            "destination_arn": self.destination_arn,
            "destination_type": self.destination_type,
            "destination_resource": self.destination_resource,
            "output_format": self.output_format,
            "record_fields": list(self.record_fields),
            "field_delimiter": self.field_delimiter,
            "hive_compatible_path": self.hive_paths,
            "suffix_path": self.suffix_path,
        }


@dataclass(frozen=True)
class VendedState:
    """The ``ALB_CONNECTION_LOGS`` delivery sources of one load balancer and their deliveries."""

    sources: tuple[tuple[str, str | None], ...]  # (name, status)
    deliveries: tuple[VendedDelivery, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [{"name": n, "status": s} for n, s in self.sources],
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


def logs_client(lb_arn: str, profile: str | None, region: str | None) -> Any:
    return aws_session.new_client("logs", profile=profile, region=region or region_of_arn(lb_arn))


def call(logs: Any, action: str, resource: str, **kwargs: Any) -> Any:
    """``logs.<action>(**kwargs)``, a failure as our error naming ``logs:<Action>``."""
    try:
        return getattr(logs, action)(**kwargs)
    except Exception as error:
        name = "logs:" + "".join(p.title() for p in action.split("_"))
        raise translate(error, action=name, resource=resource) from error


def _pages(logs: Any, action: str, key: str, resource: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        page = call(logs, action, resource, **kwargs)
        items += page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return items
        kwargs["nextToken"] = token


def read_vended(lb_arn: str, logs: Any, findings: list[AwsFinding]) -> VendedState:
    """The vended deliveries of ``lb_arn``'s connection logs, with findings appended.

    Raises our AWS errors (access denied names the ``logs:`` action); a destination that
    cannot be read (another account's) becomes a ``CheckRefused`` finding instead.
    """
    sources = [
        s
        for s in _pages(
            logs, "describe_delivery_sources", "deliverySources", lb_arn, resourceArns=[lb_arn]
        )
        if s.get("logType") == LOG_TYPE and lb_arn in s.get("resourceArns", [lb_arn])
    ]
    names = [s["name"] for s in sources]
    raw = (
        _pages(logs, "describe_deliveries", "deliveries", lb_arn, deliverySourceNames=names)
        if names
        else []
    )
    deliveries = tuple(
        _delivery(logs, d, findings) for d in raw if d.get("deliverySourceName") in names
    )
    state = VendedState(tuple((s["name"], s.get("status")) for s in sources), deliveries)
    findings += _findings(state, sources, lb_arn)
    return state


def _delivery(logs: Any, raw: dict[str, Any], findings: list[AwsFinding]) -> VendedDelivery:
    arn = raw.get("deliveryDestinationArn", "")
    name = arn.rsplit(":", 1)[-1]
    resource = output = None
    kind = raw.get("deliveryDestinationType")
    try:
        dest = call(logs, "get_delivery_destination", arn, name=name)["deliveryDestination"]
        resource = dest.get("deliveryDestinationConfiguration", {}).get("destinationResourceArn")
        output = dest.get("outputFormat")
        kind = kind or dest.get("deliveryDestinationType")
    except Exception as error:  # another account's destination: report what the delivery says
        problem = translate(error, action="logs:GetDeliveryDestination", resource=arn)
        findings.append(
            AwsFinding(
                "CheckRefused",
                "warning",
                f"delivery destination not checked: {problem}",
                problem.hint or "",
            )
        )
    s3 = raw.get("s3DeliveryConfiguration") or {}
    return VendedDelivery(
        delivery_id=raw.get("id", ""),
        source_name=raw.get("deliverySourceName", ""),
        destination_arn=arn,
        destination_type=kind,
        destination_resource=resource,
        output_format=output,
        record_fields=tuple(raw.get("recordFields") or ()),
        field_delimiter=raw.get("fieldDelimiter"),
        hive_paths=s3.get("enableHiveCompatiblePath"),
        suffix_path=s3.get("suffixPath"),
    )


def _findings(state: VendedState, sources: list[dict[str, Any]], lb_arn: str) -> list[AwsFinding]:
    out = []
    for source in sources:
        if source.get("status") == "INACTIVE":
            out.append(
                AwsFinding(
                    "VendedSourceInactive",
                    "warning",
                    f"delivery source {source['name']} is INACTIVE "
                    f"({source.get('statusReason') or 'no reason given'})",
                    "Recreate it: --enable-vended DESTINATION_ARN.",
                )
            )
    used = {d.source_name for d in state.deliveries}
    for name, _ in state.sources:
        if name not in used:
            out.append(
                AwsFinding(
                    "VendedNoDelivery",
                    "warning",
                    f"delivery source {name} delivers nowhere (no delivery uses it)",
                    "Pair it with a destination: --enable-vended DESTINATION_ARN.",
                )
            )
    for d in state.deliveries:
        out += _delivery_findings(d, lb_arn)
    return out


def how_to_read(d: VendedDelivery, lb_arn: str) -> str:
    """The command that reads a delivery's logs (S3 key layout UNCONFIRMED, spec §2.6)."""
    resource = d.destination_resource or ""
    try:
        kind = destination_type(resource)
    except InputError:
        return ""
    if kind == "CWL":
        # The group's ARN, not cloudwatch:NAME: it carries the region, which the user's
        # default may not be (the cloudwatch input reads the ARN's region).
        return f"Read them: mtls-doctor diagnose {resource.removesuffix(':*')}"
    if kind == "S3":
        parts = lb_arn.split(":")
        bucket = resource.split(":::", 1)[1]
        if d.hive_paths:
            folder = f"AWSLogs/aws-account-id={parts[4]}/elasticloadbalancing/region={parts[3]}/"
        else:
            folder = f"AWSLogs/{parts[4]}/elasticloadbalancing/{parts[3]}/"
        text = f"Read them: mtls-doctor diagnose s3://{bucket}/{folder}"
        if d.output_format in ("json", "parquet"):  # the formats an Athena table reads
            text += (
                f", or with Athena: mtls-doctor athena ddl --kind {d.output_format} "
                f"--location s3://{bucket}/{folder}"
            )
        return text + " (the vended key layout is UNCONFIRMED: check the bucket)"
    return ""


def _delivery_findings(d: VendedDelivery, lb_arn: str) -> list[AwsFinding]:
    where = d.destination_resource or d.destination_arn
    out = [
        AwsFinding(
            "VendedDelivery",
            "info",
            f"connection logs are delivered through CloudWatch Logs to {d.destination_type or '?'} "
            f"{where} as {d.output_format or 'an unknown format'}",
            how_to_read(d, lb_arn),
        )
    ]
    missing = [f for f in NEEDED_FIELDS if d.record_fields and f not in d.record_fields]
    if missing:
        out.append(
            AwsFinding(
                "VendedFieldsMissing",
                "warning",
                f"delivery {d.delivery_id} leaves out {', '.join(missing)}: a diagnosis needs them",
                "Recreate the delivery with every record field (--enable-vended sends all 15).",
            )
        )
    if d.output_format and d.output_format not in READABLE:
        out.append(
            AwsFinding(
                "VendedFormatUnread",
                "warning",
                f"delivery {d.delivery_id} writes {d.output_format}, which mtls-doctor does "
                "not read",
                f"Use one of {', '.join(READABLE)}.",
            )
        )
    return out
