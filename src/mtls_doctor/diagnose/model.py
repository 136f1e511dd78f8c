"""The result of a diagnosis: frozen dataclasses with a hand-written JSON contract.

The JSON shape (``Diagnosis.to_dict``) is documented in the README and tested; change it
only with a new ``schema_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mtls_doctor.timeutil import iso_z
from mtls_doctor.trail.link import Cause

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Summary:
    """Headline numbers of the selection."""

    connections: int
    tls_connections: int
    succeeded: int
    failed: int
    not_tls: int
    malformed_lines: int
    unknown_code_lines: int
    files: int
    first_seen: datetime | None
    last_seen: datetime | None

    @property
    def failure_rate(self) -> float:
        """Failed share of TLS connections (0 when there are none)."""
        return self.failed / self.tls_connections if self.tls_connections else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "tls_connections": self.tls_connections,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "not_tls": self.not_tls,
            "failure_rate": round(self.failure_rate, 6),
            "malformed_lines": self.malformed_lines,
            "unknown_code_lines": self.unknown_code_lines,
            "files": self.files,
            "first_seen": iso_z(self.first_seen),
            "last_seen": iso_z(self.last_seen),
        }


@dataclass(frozen=True)
class Evidence:
    """What the log fields prove for one code: structured items plus plain sentences."""

    kind: str
    items: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items": [_plain(i) for i in self.items],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ChangePoint:
    """A code that appeared, or jumped, at a point in time."""

    at: datetime
    kind: str  # "appeared" or "jumped"
    before_rate: float
    after_rate: float
    message: str
    # How sure (diagnose/changes.py): the test's p-value (for "jumped", corrected for the
    # split points tried) and the counts it was computed from.
    p_value: float = 1.0
    connections_before: int = 0
    failures_before: int = 0
    connections_after: int = 0
    failures_after: int = 0
    expected_before: float | None = None  # "appeared": failures expected at the later rate
    split_points: int = 1  # "jumped": the points in time the change could have been placed
    # The configuration changes before it, most likely first (--changes; docs/changes.md).
    # None: no change source was read, and the JSON has no "causes".
    causes: tuple[Cause, ...] | None = None
    causes_complete: bool = True  # False: the change source was read only in part
    # The load balancers (the logs' elb, app/NAME/ID) of the code's failures from ``at`` on:
    # changes to others are no cause (diagnose/causes.py). Empty: the logs do not say.
    load_balancers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "kind": self.kind,
            "before_rate": round(self.before_rate, 6),
            "after_rate": round(self.after_rate, 6),
            "message": self.message,
            "p_value": float(f"{self.p_value:.3g}"),
            "connections_before": self.connections_before,
            "failures_before": self.failures_before,
            "connections_after": self.connections_after,
            "failures_after": self.failures_after,
            "expected_before": None
            if self.expected_before is None
            else round(self.expected_before, 3),
            "split_points": self.split_points,
        } | self._causes_dict()

    def _causes_dict(self) -> dict[str, Any]:
        if self.causes is None:
            return {}
        return {
            "causes": [c.to_dict() for c in self.causes],
            "causes_complete": self.causes_complete,
            "load_balancers": list(self.load_balancers),
        }


@dataclass(frozen=True)
class FailureGroup:
    """Everything about one failure code in the selection."""

    code: str
    documented: bool
    count: int
    share: float
    clients: int
    certificates: int
    first_seen: datetime | None
    last_seen: datetime | None
    top_clients: tuple[dict[str, Any], ...]
    top_certificates: tuple[dict[str, Any], ...]
    timeline_unit: str
    timeline: tuple[tuple[datetime, int], ...]
    evidence: Evidence
    resolution: tuple[str, ...]
    change: ChangePoint | None = None
    correlation: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "documented": self.documented,
            "count": self.count,
            "share": round(self.share, 6),
            "clients": self.clients,
            "certificates": self.certificates,
            "first_seen": iso_z(self.first_seen),
            "last_seen": iso_z(self.last_seen),
            "top_clients": [_plain(c) for c in self.top_clients],
            "top_certificates": [_plain(c) for c in self.top_certificates],
            "timeline": {
                "unit": self.timeline_unit,
                "buckets": [{"start": iso_z(t), "count": n} for t, n in self.timeline],
            },
            "evidence": self.evidence.to_dict(),
            "resolution": list(self.resolution),
            "change": self.change.to_dict() if self.change else None,
            "correlation": [_plain(c) for c in self.correlation],
        }


@dataclass(frozen=True)
class DiagnosisWarning:
    """Something to act on that is not (yet) a failure, e.g. certificates about to expire."""

    kind: str
    message: str
    items: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "items": [_plain(i) for i in self.items],
        }


@dataclass(frozen=True)
class Diagnosis:
    """The whole answer: summary, counts per raw status, one group per failure code."""

    summary: Summary
    by_status: tuple[tuple[str, int], ...]
    failures: tuple[FailureGroup, ...]
    warnings: tuple[DiagnosisWarning, ...] = ()
    errors: tuple[dict[str, Any], ...] = ()
    generated_at: datetime | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def has_failures(self) -> bool:
        return self.summary.failed > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": iso_z(self.generated_at),
            "filters": dict(self.filters),
            "summary": self.summary.to_dict(),
            "by_status": dict(self.by_status),
            "failures": [f.to_dict() for f in self.failures],
            "warnings": [w.to_dict() for w in self.warnings],
            "errors": [dict(e) for e in self.errors],
        }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (iso_z(v) if isinstance(v, datetime) else v) for k, v in values.items()}


def correlation_text(item: dict[str, Any]) -> str:
    """One correlation finding (see :mod:`.correlate`) as a sentence, for every report."""
    parts = [f"serial {item.get('serial') or '-'}"]
    for rev in item.get("revocations", []) or []:
        parts.append(
            f"revoked in {rev['crl']} on {rev['revocation_date']} ({rev['reason'] or 'no reason'})"
        )
    if "revocations" in item and not item["revocations"]:
        parts.append("not in the CRLs given: the trust store may hold another CRL")
    cands = item.get("issuer_candidates")
    if cands is not None:
        same = cands["same_organisation"]
        parts.append(
            f"bundle CAs of the same organisation: {', '.join(same)}"
            if same
            else "no bundle CA shares the subject's organisation"
        )
    if "predicted" in item:
        agree = "agrees with" if item.get("matches_log") else "DIFFERS from"
        parts.append(
            f"{item['certificate_file']}: engine predicts {item['predicted']} ({agree} the log)"
        )
    return "; ".join(parts)


def likely_cause_text(change: ChangePoint) -> str | None:
    """The "Likely cause" line under a change, for every view; None without a change source."""
    if change.causes is None:
        return None
    part = "" if change.causes_complete else " The change source was read only in part."
    if not change.causes and not change.causes_complete:
        return "Likely cause: unknown; the change source could not be read in full."
    if not change.causes:
        return "Likely cause: no ELB configuration change found in the look-back before it."
    top, more = change.causes[0], len(change.causes) - 1
    event = top.event
    who = f"{event.event_name} by {event.actor} at {iso_z(event.event_time)}"
    tail = f" (+{more} more)" if more else ""
    if top.evidence == "timing-only":
        target = f" on {event.resource_arn}" if event.resource_arn else ""
        return f"Possible cause, by timing only: {who}{target}.{tail}{part}"
    return f"Likely cause [{top.evidence}]: {top.summary} ({who}).{tail}{part}"
