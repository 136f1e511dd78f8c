"""``aws connection-logs --enable-vended``: the CloudWatch Logs delivery of connection logs.

Three calls (spec §2.4): PutDeliverySource (the LB ARN, ``ALB_CONNECTION_LOGS``),
PutDeliveryDestination (the bucket, log group or stream, and the output format) and
CreateDelivery (all 15 record fields; Hive-compatible S3 paths, which ``athena ddl --kind``
expects). :func:`plan_vended` reads what exists and says what it would call;
:func:`apply_vended` calls it. Cross-account destinations (PutDeliveryDestinationPolicy in
the destination account) are not set up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.aws.findings import AwsFinding
from mtls_doctor.aws.session import check_arn
from mtls_doctor.aws.vended_delivery import (
    DEFAULT_FORMAT,
    FORMATS,
    LOG_TYPE,
    RECORD_FIELDS,
    VendedDelivery,
    VendedState,
    call,
    destination_type,
    read_vended,
)
from mtls_doctor.errors import InputError, MtlsDoctorError, UsageError


@dataclass(frozen=True)
class VendedPlan:
    """The three resources ``--enable-vended`` creates (or updates, for the names it reuses)."""

    lb_arn: str
    source_name: str
    destination_name: str
    destination_resource: str
    destination_type: str
    output_format: str
    hive_paths: bool
    existing: VendedState
    findings: tuple[AwsFinding, ...] = field(default=())

    @property
    def already(self) -> VendedDelivery | None:
        """A delivery of these logs to the same place, if there is one (nothing to do)."""
        for d in self.existing.deliveries:
            if d.destination_resource == self.destination_resource:
                return d
        return None

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The API calls, in order (the deliveryDestinationArn comes from the second)."""
        delivery: dict[str, Any] = {
            "deliverySourceName": self.source_name,
            "deliveryDestinationArn": "<from PutDeliveryDestination>",
            "recordFields": list(RECORD_FIELDS),
        }
        if self.destination_type == "S3":
            delivery["s3DeliveryConfiguration"] = {"enableHiveCompatiblePath": self.hive_paths}
        return [
            (
                "PutDeliverySource",
                {"name": self.source_name, "resourceArn": self.lb_arn, "logType": LOG_TYPE},
            ),
            (
                "PutDeliveryDestination",
                {
                    "name": self.destination_name,
                    "outputFormat": self.output_format,
                    "deliveryDestinationConfiguration": {
                        "destinationResourceArn": self.destination_resource
                    },
                },
            ),
            ("CreateDelivery", delivery),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "load_balancer_arn": self.lb_arn,
            "calls": [{"action": f"logs:{a}", "parameters": p} for a, p in self.calls()],
            "existing": self.existing.to_dict(),
            "already_delivered": self.already.delivery_id if self.already else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def _names(lb_arn: str, kind: str) -> tuple[str, str]:
    """Names for the source and destination (``[\\w-]``, at most 60 characters)."""
    lb = lb_arn.split(":loadbalancer/", 1)[-1]  # app/NAME/ID
    _, name, lb_id = [*lb.split("/"), "", ""][:3]
    stem = re.sub(r"[^\w-]", "-", f"{name}-{lb_id[:8]}")[:40]
    return f"{stem}-conn-logs", f"{stem}-conn-{kind.lower()}"


def plan_vended(
    lb_arn: str,
    destination_arn: str,
    *,
    logs: Any,
    output_format: str | None = None,
    hive_paths: bool = True,
) -> VendedPlan:
    """What ``--enable-vended`` would create, after reading what exists."""
    check_arn(lb_arn, "loadbalancer")
    if ":loadbalancer/app/" not in lb_arn:
        raise InputError(
            f"{lb_arn}: not an Application Load Balancer; connection logs are an ALB feature"
        )
    kind = destination_type(destination_arn)
    fmt = (output_format or DEFAULT_FORMAT).lower()
    if fmt not in FORMATS[kind]:
        raise UsageError(
            f"--output-format {fmt}: a {kind} destination takes {', '.join(FORMATS[kind])}"
        )
    findings: list[AwsFinding] = []
    existing = read_vended(lb_arn, logs, findings)
    source, destination = _names(lb_arn, kind)
    if existing.sources:
        source = existing.sources[0][0]  # a source feeds several destinations: reuse it
    if kind == "S3" and not hive_paths:
        findings.append(
            AwsFinding(
                "NoHivePaths",
                "info",
                "day folders will not be Hive-style: athena ddl --kind needs "
                "--day-path '${year}/${month}/${day}/' (layout UNCONFIRMED)",
            )
        )
    return VendedPlan(
        lb_arn, source, destination, destination_arn, kind, fmt, hive_paths, existing,
        tuple(findings),
    )  # fmt: skip


def apply_vended(plan: VendedPlan, *, logs: Any) -> VendedDelivery:
    """Create the source, the destination and the delivery of ``plan`` (the names are fixed,
    so a re-run after a failure updates what was made instead of making it twice)."""
    (_, source), (_, destination), (_, delivery) = plan.calls()
    call(logs, "put_delivery_source", plan.lb_arn, **source)
    made = call(logs, "put_delivery_destination", plan.destination_resource, **destination)
    arn = made["deliveryDestination"]["arn"]
    try:
        created = call(
            logs, "create_delivery", plan.lb_arn, **{**delivery, "deliveryDestinationArn": arn}
        )["delivery"]
    except MtlsDoctorError as error:
        error.hint = (
            f"{error.hint or ''} The delivery source {plan.source_name} and destination "
            f"{plan.destination_name} exist now; a re-run reuses them."
        ).strip()
        raise
    return VendedDelivery(
        delivery_id=created.get("id", ""),
        source_name=plan.source_name,
        destination_arn=arn,
        destination_type=plan.destination_type,
        destination_resource=plan.destination_resource,
        output_format=plan.output_format,
        record_fields=tuple(created.get("recordFields") or RECORD_FIELDS),
        field_delimiter=created.get("fieldDelimiter"),
        hive_paths=(created.get("s3DeliveryConfiguration") or {}).get("enableHiveCompatiblePath"),
    )
