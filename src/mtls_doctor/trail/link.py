"""Link each write event before a change point to the failing clients, strongest evidence first.

Evidence, strongest first (issue #21):

- ``revoked-serials``: ``AddTrustStoreRevocations`` named a CRL object version whose revoked
  serials include failing connections' leaf serials (read from that exact version).
- ``ca-removed``: ``ModifyTrustStore`` replaced the bundle and CAs were removed (the diff
  of the previous and the new bundle versions), for a code a missing CA causes.
- ``listener-setting``: ``ModifyListener`` changed what the listener checks, in the way the
  code needs (``IgnoreClientCertificateExpiry`` off before ``ClientCertExpired``; the mode
  set to ``verify``; another trust store).
- ``timing-only``: nothing but the time links them, said plainly.

An object that cannot be read (denied, missing version) lowers the evidence to what could be
read, and ``details.unreadable`` says which and why. Nothing here raises for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.timeutil import iso_z
from mtls_doctor.trail.event import PARAMS, ChangeEvent
from mtls_doctor.trail.objects import (
    ObjectFetcher,
    ObjectRef,
    bundle_diff,
    read_bundle,
    read_bundle_certificates,
    read_revoked,
    serial_value,
)
from mtls_doctor.trail.settings import listener_change
from mtls_doctor.trail.verdicts import ClientChain, compare_bundles

EVIDENCE_ORDER = ("revoked-serials", "ca-removed", "listener-setting", "timing-only")
# Codes a CA missing from the bundle produces (the chain no longer reaches a trusted CA).
CA_REMOVAL_CODES = frozenset({"ClientCertUntrusted"})
BUNDLE_EVENTS = ("ModifyTrustStore", "CreateTrustStore")


@dataclass(frozen=True)
class Failing:
    """One failure code's change point and its failing connections' leaf serials (as logged)."""

    code: str
    at: datetime
    serials: tuple[str, ...] = ()
    chains: tuple[ClientChain, ...] = ()  # from --certs: the verdict engine on both bundles


@dataclass(frozen=True)
class Cause:
    """One event before a change point, with the evidence that links it to the failures."""

    event: ChangeEvent
    evidence: str
    summary: str
    matched_serials: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_name": self.event.event_name,
            "event_time": iso_z(self.event.event_time),
            "actor": self.event.actor,
            "resource_arn": self.event.resource_arn,
            "evidence": self.evidence,
            "matched_serials": list(self.matched_serials),
            "summary": self.summary,
            "details": dict(self.details),
        }


def rank(causes: Sequence[Cause], at: datetime) -> list[Cause]:
    """Strongest evidence first; among equals, the event nearest the change point first."""
    return sorted(
        causes,
        key=lambda c: (
            EVIDENCE_ORDER.index(c.evidence),
            len(c.matched_serials) * -1,
            abs((at - c.event.event_time).total_seconds()),
        ),
    )


def link_causes(
    failing: Failing,
    candidates: Sequence[ChangeEvent],
    fetcher: ObjectFetcher | None,
    history: Sequence[ChangeEvent] = (),
) -> list[Cause]:
    """Every candidate with its evidence, most likely first.

    ``history``: every event read (also before the look-back), for the previous bundle of a
    trust store and the previous settings of a listener.
    """
    causes = [_link(event, failing, fetcher, history) for event in candidates]
    return rank(causes, failing.at)


def _link(
    event: ChangeEvent,
    failing: Failing,
    fetcher: ObjectFetcher | None,
    history: Sequence[ChangeEvent],
) -> Cause:
    if event.event_name == "AddTrustStoreRevocations":
        return revoked_serials(event, failing, fetcher)
    if event.event_name == "ModifyTrustStore":
        return ca_removed(event, failing, fetcher, history)
    if event.event_name == "ModifyListener":
        found = listener_change(event, failing.code, history)
        if found is not None:
            return Cause(event, "listener-setting", found[0], details=found[1])
    return timing_only(event, failing)


def timing_only(event: ChangeEvent, failing: Failing, **details: Any) -> Cause:
    return Cause(
        event,
        "timing-only",
        f"{event.event_name} at {iso_z(event.event_time)} came before {failing.code} "
        "changed; nothing but the timing links them",
        details=details,
    )


def _unreadable(ref: ObjectRef, error: MtlsDoctorError) -> dict[str, str]:
    return {"object": ref.url, "error": error.message}


def revoked_serials(event: ChangeEvent, failing: Failing, fetcher: ObjectFetcher | None) -> Cause:
    """Read each CRL version the event added; match its revoked serials to the failing ones."""
    refs = [
        ref
        for item in _list(event.request.get(PARAMS["revocations"]))
        if (ref := ObjectRef.from_params(item, "s3Bucket", "s3Key", "s3ObjectVersion"))
    ]
    wanted = {serial_value(s): s for s in failing.serials}
    wanted.pop(None, None)
    lists, unreadable, matched = [], [], set()
    for ref in refs:
        if fetcher is None:
            unreadable.append({"object": ref.url, "error": "no S3 access for change evidence"})
            continue
        try:
            revoked = read_revoked(fetcher, ref)
        except MtlsDoctorError as error:
            unreadable.append(_unreadable(ref, error))
            continue
        hits = {wanted[n] for n in revoked.serials if n in wanted}
        matched |= hits
        lists.append(
            {"object": ref.url, "issuers": list(revoked.issuers), "revoked": len(revoked.serials)}
        )
    details: dict[str, Any] = {"crls": lists, "serials_checked": len(wanted)}
    if unreadable:
        details["unreadable"] = unreadable
    if not matched:
        return timing_only(event, failing, **details)
    serials = tuple(sorted(matched))
    return Cause(
        event,
        "revoked-serials",
        f"{event.event_name} added a CRL that revokes {len(serials)} of the "
        f"{len(wanted)} failing certificate serial(s)",
        serials,
        details,
    )


def _list(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def bundle_ref(event: ChangeEvent) -> ObjectRef | None:
    return ObjectRef.from_params(
        event.request, PARAMS["bundle_bucket"], PARAMS["bundle_key"], PARAMS["bundle_version"]
    )


def previous_bundle(
    event: ChangeEvent, history: Sequence[ChangeEvent], fetcher: ObjectFetcher
) -> tuple[ObjectRef | None, str]:
    """The bundle in effect before ``event``, and how it was found."""
    earlier = [
        e
        for e in history
        if e.event_name in BUNDLE_EVENTS
        and e.is_write
        and e.resource_arn == event.resource_arn
        and e.event_time < event.event_time
    ]
    if earlier:
        ref = bundle_ref(max(earlier, key=lambda e: e.event_time))
        if ref is not None:
            return ref, "the trust store's previous bundle event"
    new = bundle_ref(event)
    if new is None or new.version is None:
        return None, "no earlier bundle event, and no object version to step back from"
    older = fetcher.previous_version(new.bucket, new.key, new.version)
    if older is None:
        return None, "no earlier bundle event, and no earlier version of the object"
    # An inference: the store may have been loaded from another object before.
    return ObjectRef(new.bucket, new.key, older), "the previous version of the same S3 object"


def ca_removed(
    event: ChangeEvent,
    failing: Failing,
    fetcher: ObjectFetcher | None,
    history: Sequence[ChangeEvent],
) -> Cause:
    """Diff the previous and the new bundle of the trust store."""
    new = bundle_ref(event)
    if new is None or fetcher is None:
        reason = "no bundle object in the event" if new is None else "no S3 access"
        return timing_only(event, failing, bundle=None, note=reason)
    try:
        old, how = previous_bundle(event, history, fetcher)
        after = read_bundle(fetcher, new)
        before = read_bundle(fetcher, old) if old is not None else None
    except MtlsDoctorError as error:
        return timing_only(event, failing, unreadable=[_unreadable(new, error)])
    details: dict[str, Any] = {"new": new.url, "previous": old.url if old else None}
    details["previous_from"] = how
    if before is None:
        details["cas"] = sorted(after.values(), key=lambda c: c["subject"])
        return timing_only(event, failing, **details)
    diff = bundle_diff(before, after)
    details.update(diff)
    proof = ""
    if failing.chains and old is not None:
        rows = compare_bundles(
            failing.chains,
            read_bundle_certificates(fetcher, old),
            read_bundle_certificates(fetcher, new),
            failing.at,
        )
        details["verdicts"] = rows
        broken = sum(1 for r in rows if r["only_new_rejects"])
        if not broken:  # the clients at hand pass or fail alike with both: not this change
            return timing_only(event, failing, **details)
        proof = f"; {broken} of {len(rows)} failing client certificate(s) given pass the "
        proof += "previous bundle and fail the new one"
    elif not diff["removed"] or failing.code not in CA_REMOVAL_CODES:
        return timing_only(event, failing, **details)
    names = "; ".join(c["subject"] for c in diff["removed"]) or "none"
    return Cause(
        event,
        "ca-removed",
        f"{event.event_name} replaced the CA bundle and removed {len(diff['removed'])} CA(s): "
        f"{names}{proof}",
        details=details,
    )
