"""A listener's mTLS settings as the ALB has them, with what is wrong or worth knowing.

moto does not implement ``MutualAuthentication`` or trust stores (spec §7.4); the shapes
used here are those of the botocore service model (spec §7.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.findings import AwsFinding, sort_findings
from mtls_doctor.aws.session import check_arn, region_of_arn, translate
from mtls_doctor.knowledge.policies import UnknownPolicyError, get_policy
from mtls_doctor.knowledge.policy_fit import legacy_protocols, stricter_policy

HEADER_KEY_PREFIX = "routing.http.request.x_amzn_"
HEADER_KEY_SUFFIX = ".header_name"


@dataclass(frozen=True)
class TrustStoreInfo:
    """``describe_trust_stores`` for one trust store."""

    arn: str
    name: str | None
    status: str | None
    ca_certificates: int | None
    revoked_entries: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "status": self.status,
            "number_of_ca_certificates": self.ca_certificates,
            "total_revoked_entries": self.revoked_entries,
        }


@dataclass(frozen=True)
class ListenerSettings:
    """The mTLS part of a listener, its header renames, its trust store, and findings."""

    arn: str
    protocol: str | None
    port: int | None
    ssl_policy: str | None
    mode: str  # off | passthrough | verify (off when the listener has no MutualAuthentication)
    trust_store_arn: str | None
    ignore_client_certificate_expiry: bool
    advertise_trust_store_ca_names: str | None
    trust_store_association_status: str | None
    headers: dict[str, str] = field(default_factory=dict)  # default name -> name in use
    ssl_policy_protocols: tuple[str, ...] | None = None  # from the policy table
    trust_store: TrustStoreInfo | None = None
    findings: tuple[AwsFinding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "listener_arn": self.arn,
            "protocol": self.protocol,
            "port": self.port,
            "ssl_policy": self.ssl_policy,
            "ssl_policy_protocols": (
                None if self.ssl_policy_protocols is None else list(self.ssl_policy_protocols)
            ),
            "mutual_authentication": {
                "mode": self.mode,
                "trust_store_arn": self.trust_store_arn,
                "ignore_client_certificate_expiry": self.ignore_client_certificate_expiry,
                "advertise_trust_store_ca_names": self.advertise_trust_store_ca_names,
                "trust_store_association_status": self.trust_store_association_status,
            },
            "headers": dict(self.headers),
            "trust_store": self.trust_store.to_dict() if self.trust_store else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def default_header_name(attribute_key: str) -> str:
    """``routing.http.request.x_amzn_mtls_clientcert_leaf.header_name`` -> the header it renames."""
    middle = attribute_key[len("routing.http.request.") : -len(HEADER_KEY_SUFFIX)]
    return "-".join(part.capitalize() for part in middle.split("_"))


def elbv2_client(arn: str, profile: str | None, region: str | None) -> Any:
    return aws_session.new_client("elbv2", profile=profile, region=region or region_of_arn(arn))


def describe_listener(
    arn: str, *, profile: str | None = None, region: str | None = None, client: Any = None
) -> ListenerSettings:
    """Read the listener ``arn`` (InputError if there is none, AwsAccessError if refused)."""
    check_arn(arn, "listener")
    elb = client or elbv2_client(arn, profile, region)
    try:
        listener = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    except Exception as error:
        raise translate(
            error, action="elasticloadbalancing:DescribeListeners", resource=arn
        ) from error
    headers, notes = _headers(elb, arn)
    mutual = listener.get("MutualAuthentication") or {}
    ts_arn = mutual.get("TrustStoreArn")
    trust_store = describe_trust_store(elb, ts_arn, notes) if ts_arn else None
    settings = ListenerSettings(
        arn=arn,
        protocol=listener.get("Protocol"),
        port=listener.get("Port"),
        ssl_policy=listener.get("SslPolicy"),
        mode=mutual.get("Mode") or "off",
        trust_store_arn=ts_arn,
        ignore_client_certificate_expiry=bool(mutual.get("IgnoreClientCertificateExpiry")),
        advertise_trust_store_ca_names=mutual.get("AdvertiseTrustStoreCaNames"),
        trust_store_association_status=mutual.get("TrustStoreAssociationStatus"),
        headers=headers,
        ssl_policy_protocols=policy_protocols(listener.get("SslPolicy")),
        trust_store=trust_store,
    )
    return _with_findings(settings, notes)


def _headers(elb: Any, arn: str) -> tuple[dict[str, str], list[AwsFinding]]:
    try:
        attributes = elb.describe_listener_attributes(ListenerArn=arn)["Attributes"]
    except Exception as error:
        problem = translate(
            error, action="elasticloadbalancing:DescribeListenerAttributes", resource=arn
        )
        note = AwsFinding("HeaderNamesUnknown", "warning", f"header names not read: {problem}")
        return {}, [note]
    headers = {}
    for item in attributes:
        key = item.get("Key", "")
        if key.startswith(HEADER_KEY_PREFIX) and key.endswith(HEADER_KEY_SUFFIX):
            default = default_header_name(key)
            headers[default] = item.get("Value") or default
    return headers, []


def describe_trust_store(
    elb: Any, arn: str, notes: list[AwsFinding] | None = None
) -> TrustStoreInfo | None:
    """The trust store's status and counts; a failure is raised, or noted in ``notes``."""
    try:
        stores = elb.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"]
    except Exception as error:
        problem = translate(error, action="elasticloadbalancing:DescribeTrustStores", resource=arn)
        if notes is None:
            raise problem from error
        notes.append(
            AwsFinding("TrustStoreUnreadable", "warning", str(problem), problem.hint or "")
        )
        return None
    if not stores:
        return None
    store = stores[0]
    return TrustStoreInfo(
        arn,
        store.get("Name"),
        store.get("Status"),
        store.get("NumberOfCaCertificates"),
        store.get("TotalRevokedEntries"),
    )


def _with_findings(settings: ListenerSettings, notes: list[AwsFinding]) -> ListenerSettings:
    found = list(notes) + _mode_findings(settings) + _trust_store_findings(settings)
    found += policy_findings(settings.ssl_policy)
    for default, used in settings.headers.items():
        if used != default:
            found.append(
                AwsFinding(
                    "HeaderRenamed",
                    "info",
                    f"the ALB sends {default} as {used}",
                    "Backends must read the renamed header.",
                )
            )
    return ListenerSettings(**{**settings.__dict__, "findings": sort_findings(found)})


_SPELLED = {"TLSv1.1": "TLS 1.1", "TLSv1": "TLS 1.0"}


def policy_protocols(name: str | None) -> tuple[str, ...] | None:
    """The protocols of the listener's policy, from the table (None when not in it)."""
    try:
        return get_policy(name).protocols if name else None
    except UnknownPolicyError:
        return None


def policy_findings(name: str | None) -> list[AwsFinding]:
    """What the listener's security policy means for its clients: TLS 1.0/1.1 still
    allowed, and the ``policy check`` runs that tell who a stricter policy would refuse."""
    if not name:
        return []
    try:
        policy = get_policy(name)
    except UnknownPolicyError:
        return [
            AwsFinding(
                "SecurityPolicyUnknown",
                "info",
                f"security policy {name} is not in mtls-doctor's table",
                "mtls-doctor policy list --live shows the policies AWS has.",
            )
        ]
    stricter = stricter_policy(policy)
    check = f"mtls-doctor policy check {policy.name} LOGS"
    if stricter is not None:
        check += f"; mtls-doctor policy check --compare {policy.name} {stricter.name} LOGS"
    legacy = legacy_protocols(policy)
    if legacy:
        spelled = " and ".join(_SPELLED[p] for p in legacy)
        return [
            AwsFinding(
                "LegacyTlsAllowed",
                "warning",
                f"security policy {policy.name} allows {spelled}",
                f"See which clients still use them before a stricter policy: {check}",
            )
        ]
    return [
        AwsFinding(
            "SecurityPolicy",
            "info",
            f"security policy {policy.name}: {', '.join(policy.protocols)}",
            f"Which logged clients a policy would refuse: {check}",
        )
    ]


def _mode_findings(s: ListenerSettings) -> list[AwsFinding]:
    found = []
    if s.protocol not in (None, "HTTPS"):
        found.append(
            AwsFinding(
                "ListenerNotHttps",
                "error",
                f"the listener protocol is {s.protocol}; mutual TLS needs an HTTPS listener",
                "Put mTLS on the HTTPS listener that clients connect to.",
            )
        )
    if s.mode == "off":
        found.append(
            AwsFinding(
                "MtlsOff",
                "warning",
                "mutual TLS is off: the ALB does not ask for client certificates",
                "Set Mode to verify (with a trust store) or passthrough on the listener.",
            )
        )
    elif s.mode == "passthrough":
        if s.trust_store_arn:
            found.append(
                AwsFinding(
                    "PassthroughWithTrustStore",
                    "warning",
                    "mode is passthrough although a trust store is named: the ALB checks "
                    "nothing and sends the client chain to the targets; verify was probably meant",
                    "Set Mode to verify to have the ALB check clients against the trust store.",
                )
            )
        else:
            found.append(
                AwsFinding(
                    "Passthrough",
                    "info",
                    "mode is passthrough: the ALB does not verify client certificates; the "
                    "targets must (header X-Amzn-Mtls-Clientcert)",
                )
            )
    elif s.mode == "verify" and s.advertise_trust_store_ca_names != "on":
        found.append(
            AwsFinding(
                "CaNamesNotAdvertised",
                "info",
                "the ALB does not send its CA names; clients with several certificates may "
                "pick the wrong one or send none",
                "Set AdvertiseTrustStoreCaNames to on.",
            )
        )
    if s.mode == "verify" and s.ignore_client_certificate_expiry:
        found.append(
            AwsFinding(
                "IgnoreExpiryOn",
                "info",
                "IgnoreClientCertificateExpiry is on: expired client certificates are accepted "
                "(whether it also waives not-yet-valid ones is UNCONFIRMED)",
            )
        )
    return found


def _trust_store_findings(s: ListenerSettings) -> list[AwsFinding]:
    found = []
    if s.mode == "verify" and not s.trust_store_arn:
        found.append(
            AwsFinding(
                "VerifyWithoutTrustStore",
                "error",
                "mode is verify but no trust store is attached",
                "Associate a trust store with the listener.",
            )
        )
    if s.trust_store_association_status == "removed":
        found.append(
            AwsFinding(
                "TrustStoreAssociationRemoved",
                "error",
                "the shared trust store association is removed: this listener has lost its "
                "trust store (sharing details are UNCONFIRMED)",
                "Share the trust store again (AWS RAM) or attach a trust store of this account.",
            )
        )
    store = s.trust_store
    if store is not None and store.status not in (None, "ACTIVE"):
        found.append(
            AwsFinding(
                "TrustStoreNotActive",
                "error",
                f"trust store {store.name} is {store.status}, not ACTIVE",
                "Wait until it is ACTIVE, then check again.",
            )
        )
    if store is not None and store.ca_certificates == 0:
        found.append(
            AwsFinding("TrustStoreEmpty", "error", f"trust store {store.name} holds no CA")
        )
    return found
