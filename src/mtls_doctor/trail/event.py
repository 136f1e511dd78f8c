"""One CloudTrail record of an Elastic Load Balancing call, as a :class:`ChangeEvent`.

Records follow CloudTrail's documented record format (``eventTime``, ``eventName``,
``eventSource``, ``userIdentity``, ``readOnly``, ``errorCode``, ``requestParameters``,
``responseElements``). [INFERENCE] The keys of ``requestParameters`` for the ELB calls are
the API's parameter names in lower camel case (``trustStoreArn``,
``caCertificatesBundleS3Bucket``, ``caCertificatesBundleS3Key``,
``caCertificatesBundleS3ObjectVersion``, ``revocationContents[].s3ObjectVersion``,
``listenerArn``, ``mutualAuthentication.ignoreClientCertificateExpiry``): AWS does not
document them per call. They are read in one place, :data:`PARAMS`, to change if AWS differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mtls_doctor.timeutil import iso_z

ELB_SOURCE = "elasticloadbalancing.amazonaws.com"
# The writes that change what a listener accepts (issue #21): the only possible causes.
CAUSE_EVENTS = frozenset(
    {
        "CreateTrustStore",
        "ModifyTrustStore",
        "DeleteTrustStore",
        "AddTrustStoreRevocations",
        "RemoveTrustStoreRevocations",
        "ModifyListener",
        "ModifyListenerAttributes",
    }
)
# [INFERENCE] requestParameters keys (module docstring).
PARAMS = {
    "trust_store": "trustStoreArn",
    "listener": "listenerArn",
    "bundle_bucket": "caCertificatesBundleS3Bucket",
    "bundle_key": "caCertificatesBundleS3Key",
    "bundle_version": "caCertificatesBundleS3ObjectVersion",
    "revocations": "revocationContents",
    "mutual": "mutualAuthentication",
}


@dataclass(frozen=True)
class ChangeEvent:
    """One ELB API call as CloudTrail recorded it."""

    event_name: str
    event_time: datetime
    actor: str
    resource_arn: str | None
    request: Mapping[str, Any] = field(repr=False)
    read_only: bool
    error_code: str | None = None
    event_id: str | None = None
    region: str | None = None
    origin: str = ""  # the file or API it was read from, for messages

    @property
    def is_write(self) -> bool:
        """A successful call that can change configuration."""
        return not self.read_only and self.error_code is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "event_name": self.event_name,
            "event_time": iso_z(self.event_time),
            "actor": self.actor,
            "resource_arn": self.resource_arn,
            "read_only": self.read_only,
            "error_code": self.error_code,
            "event_id": self.event_id,
            "region": self.region,
            "request_parameters": dict(self.request),
        }


def parse_event_time(text: str) -> datetime:
    """CloudTrail's ``2026-05-20T05:27:13Z`` (fractions tolerated) as an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_read_only(name: str, flag: object) -> bool:
    """``readOnly: true`` (a bool, or the string LookupEvents gives), or a Describe*/Get* call."""
    if flag is True or (isinstance(flag, str) and flag.lower() == "true"):
        return True
    return name.startswith(("Describe", "Get", "List"))


def actor_of(identity: object) -> str:
    """Who made the call: the assumed role's session ARN, the user ARN, or the service."""
    if not isinstance(identity, Mapping):
        return "unknown"
    for key in ("arn", "invokedBy", "principalId"):
        value = identity.get(key)
        if isinstance(value, str) and value:
            return value
    return str(identity.get("type") or "unknown")


def resource_of(name: str, request: Mapping[str, Any], response: object) -> str | None:
    """The listener or trust store the call is about."""
    for key in (PARAMS["trust_store"], PARAMS["listener"]):
        value = request.get(key)
        if isinstance(value, str) and value:
            return value
    if name == "CreateTrustStore" and isinstance(response, Mapping):
        stores = response.get("trustStores")
        if isinstance(stores, list) and stores and isinstance(stores[0], Mapping):
            arn = stores[0].get("trustStoreArn")
            return arn if isinstance(arn, str) else None
    return None


def parse_record(record: object, origin: str = "") -> ChangeEvent | None:
    """The ELB record as a :class:`ChangeEvent`; None for another service or a bad shape."""
    if not isinstance(record, Mapping) or record.get("eventSource") != ELB_SOURCE:
        return None
    name, when = record.get("eventName"), record.get("eventTime")
    if not isinstance(name, str) or not isinstance(when, str):
        return None
    try:
        event_time = parse_event_time(when)
    except ValueError:
        return None
    request = record.get("requestParameters")
    request = request if isinstance(request, Mapping) else {}
    error = record.get("errorCode")
    return ChangeEvent(
        event_name=name,
        event_time=event_time,
        actor=actor_of(record.get("userIdentity")),
        resource_arn=resource_of(name, request, record.get("responseElements")),
        request=request,
        read_only=is_read_only(name, record.get("readOnly")),
        error_code=str(error) if error else None,
        event_id=record.get("eventID") if isinstance(record.get("eventID"), str) else None,
        region=record.get("awsRegion") if isinstance(record.get("awsRegion"), str) else None,
        origin=origin,
    )
