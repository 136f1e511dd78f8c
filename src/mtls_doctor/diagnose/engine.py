"""diagnose(): the connection logs of a selection, turned into a :class:`Diagnosis`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mtls_doctor.diagnose import queries as q
from mtls_doctor.diagnose.changes import Minutes, Window, detect_change, roll_up
from mtls_doctor.diagnose.evidence import evidence_for, human_delta
from mtls_doctor.diagnose.model import (
    ChangePoint,
    Diagnosis,
    DiagnosisWarning,
    FailureGroup,
    Summary,
)
from mtls_doctor.diagnose.source import Query, Rows, Source, expiry_horizon
from mtls_doctor.knowledge.catalogue import get_entry
from mtls_doctor.knowledge.codes import is_documented
from mtls_doctor.logs.query import Filters
from mtls_doctor.timeutil import to_naive_utc

if TYPE_CHECKING:  # the PKI stack loads only when files are correlated
    from mtls_doctor.diagnose.correlate import Correlator


@dataclass(frozen=True)
class DiagnoseOptions:
    """What diagnose needs besides the rows."""

    now: datetime
    warn_days: int = 30
    correlator: Correlator | None = None


def resolution_lines(code: str) -> tuple[str, ...]:
    """The catalogue's numbered steps for ``code``, each with its commands."""
    entry = get_entry(code if code else "unknown")
    lines = []
    for number, step in enumerate(entry.steps, start=1):
        text = f"{number}. {step.action}"
        if step.command:
            text += f"\n   $ {step.command}"
        if step.openssl:
            text += "".join(f"\n   $ {line}" for line in step.openssl.splitlines())
        lines.append(text)
    return tuple(lines)


class _Ask:
    """The engine's questions over one of a source's prepared relations."""

    def __init__(self, source: Source, relation: str) -> None:
        prepared = source.prepared
        self.source = source
        self.relation = relation
        self.shape = prepared.shape
        self.where = prepared.where
        self.params = dict(prepared.params)

    def query(self, template: str, extra: dict[str, Any] | None = None, **fmt: str) -> Query:
        sql = template.format(rel=self.relation, where=self.where, **self.shape, **fmt)
        # Only bind what the text uses: DuckDB refuses unused named parameters.
        merged = {**self.params, **(extra or {})}
        return sql, {k: v for k, v in merged.items() if f"${k}" in sql}

    def fetch(self, template: str, extra: dict[str, Any] | None = None, **fmt: str) -> Rows:
        return self.source.fetch(*self.query(template, extra, **fmt))


def diagnose(source: Source, filters: Filters, options: DiagnoseOptions) -> Diagnosis:
    """Summarise the selection, then explain each failure code with its evidence.

    ``source`` was read for ``filters`` and the options' expiry horizon (its ``Scope``)."""
    scope = source.prepared.scope  # a scope that asks for more tables (tls) serves too
    if (scope.filters, scope.horizon) != (filters, expiry_horizon(options.now, options.warn_days)):
        raise ValueError("this source was read for another selection or horizon")
    counts = _Ask(source, source.prepared.counts)
    row = counts.fetch(q.SUMMARY)[0]
    stats = source.stats
    n = [int(value or 0) for value in row[:6]]  # a sum over no rows is NULL
    summary = Summary(
        n[0], n[1], n[2], n[3], n[4], stats.malformed, n[5], stats.files, row[6], row[7]
    )
    by_status = tuple((str(s), int(n)) for s, n in counts.fetch(q.BY_STATUS))
    # Where --since starts the window, earlier rows may exist; no source gives their counts
    # yet (Lookback), so no code is said to have "appeared" then (diagnose/changes.py).
    window = Window(cut=filters.since is not None)
    failures = _failure_groups(source, summary, options, window) if summary.failed else ()
    warnings = _expiring(source, options)
    if options.correlator is not None:
        warnings += options.correlator.warnings()
    return Diagnosis(
        summary=summary,
        by_status=by_status,
        failures=failures,
        warnings=warnings,
        errors=tuple(i.to_dict() for i in stats.issues)
        + tuple({"file": f.file, "line": None, "message": f.message} for f in stats.faults),
        generated_at=options.now,
        filters=_filters_dict(filters),
    )


def _failure_groups(
    source: Source, summary: Summary, options: DiagnoseOptions, window: Window
) -> tuple[FailureGroup, ...]:
    span = (
        (summary.last_seen - summary.first_seen).total_seconds()
        if summary.first_seen and summary.last_seen
        else 0.0
    )
    unit = q.timeline_unit(span)
    # The timelines need minutes: the counts have them (the failure groups have no time).
    counts = _Ask(source, source.prepared.counts)
    grouped = _Ask(source, source.prepared.failures)
    answers = source.fetch_many(
        [
            # per minute: change detection reads these, the timelines sum them up to `unit`
            counts.query(q.TLS_TIMELINE, unit="minute"),
            grouped.query(q.TOP_CLIENTS),
            grouped.query(q.TOP_CERTIFICATES),
            counts.query(q.TIMELINE, unit="minute"),
            grouped.query(q.CODE_CERTIFICATES),
            grouped.query(q.PER_CODE),
            grouped.query(q.FAILING_LOAD_BALANCERS),
        ]
    )
    tls_rows, top_clients, top_certs, timeline_rows, evidence, per_code, elbs = answers
    load_balancers: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for code, elb, last in elbs:
        load_balancers[code].append((str(elb), last))
    tls = [(b, int(n)) for b, n in tls_rows]
    clients: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, ip, n, first, last in top_clients:
        clients[code].append({"client_ip": ip, "count": n, "first_seen": first, "last_seen": last})
    certs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, serial, subject, nb, na, n, ncl, first, last in top_certs:
        certs[code].append(
            {
                "serial": serial,
                "subject": subject,
                "not_before": nb,
                "not_after": na,
                "count": n,
                "clients": ncl,
                "first_seen": first,
                "last_seen": last,
            }
        )
    per_minute = Minutes(tls)
    minutes: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for code, bucket, n in timeline_rows:
        minutes[code].append((bucket, int(n)))
    evidence_rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for code, *cert_row in evidence:
        evidence_rows[code].append(tuple(cert_row))
    groups = []
    for code, n, ncl, ncert, first, last in per_code:
        cert_rows = evidence_rows.get(code, [])
        correlation: tuple[dict[str, Any], ...] = ()
        if options.correlator is not None:
            correlation = options.correlator.correlate(code, cert_rows, clients.get(code, []))
        groups.append(
            FailureGroup(
                code=code or "(empty)",
                documented=is_documented(code),
                count=int(n),
                share=n / summary.failed,
                clients=int(ncl),
                certificates=int(ncert),
                first_seen=first,
                last_seen=last,
                top_clients=tuple(clients.get(code, [])),
                top_certificates=tuple(certs.get(code, [])),
                timeline_unit=unit,
                timeline=tuple(roll_up(minutes.get(code, []), unit)),
                evidence=evidence_for(code, cert_rows),
                resolution=resolution_lines(code),
                change=_scoped(
                    detect_change(code, minutes.get(code, []), per_minute, first, window),
                    load_balancers.get(code, []),
                ),
                correlation=correlation,
            )
        )
    return tuple(groups)


def _scoped(
    change: ChangePoint | None, load_balancers: list[tuple[str, datetime]]
) -> ChangePoint | None:
    """The change point with the load balancers its failures (those from it on) came through."""
    if change is None:
        return None
    after = tuple(sorted({elb for elb, last in load_balancers if last >= change.at}))
    return replace(change, load_balancers=after)


def _expiring(source: Source, options: DiagnoseOptions) -> tuple[DiagnosisWarning, ...]:
    now = to_naive_utc(options.now)
    horizon = expiry_horizon(options.now, options.warn_days)
    kinds: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    expiring = _Ask(source, source.prepared.expiring)
    for kind, *row in expiring.fetch(q.EXPIRING, {"horizon": horizon}):
        kinds[kind].append(tuple(row))
    warnings = []
    if soon := kinds.get("expiring_soon"):
        first = soon[0][2]
        when = f"in {human_delta(first - now)}" if first >= now else "already past"
        warnings.append(
            DiagnosisWarning(
                "expiring_soon",
                f"{_how_many(soon)} used by {soon[0][6]} client(s) that connected successfully "
                f"will start failing with ClientCertExpired from {first:%Y-%m-%d %H:%M}Z "
                f"({when}).",
                tuple(_expiring_item(r) for r in soon),
            )
        )
    # Accepted after NotAfter: the listener ignores expiry.
    if past := kinds.get("expired_but_accepted"):
        warnings.append(
            DiagnosisWarning(
                "expired_but_accepted",
                f"{_how_many(past)} connected successfully after their NotAfter: the listener "
                "probably has IgnoreClientCertificateExpiry on.",
                tuple(_expiring_item(r) for r in past),
            )
        )
    return tuple(warnings)


def _how_many(rows: list[tuple[Any, ...]]) -> str:
    total = int(rows[0][5])
    listed = "" if total == len(rows) else f" ({len(rows)} listed, those expiring first)"
    return f"{total} certificate(s){listed}"


def _expiring_item(row: tuple[Any, ...]) -> dict[str, Any]:
    serial, subject, not_after, clients, last = row[:5]
    return {
        "serial": serial,
        "subject": subject,
        "not_after": not_after,
        "clients": int(clients),
        "last_seen": last,
    }


def _filters_dict(filters: Filters) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if filters.client is not None:
        out["client_ip"] = str(filters.client)
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None:
            out[name] = value.isoformat()
    if filters.status is not None:
        out["status"] = filters.status[1]
    for name in ("subject", "serial", "listener_port", "tls_protocol"):
        value = getattr(filters, name)
        if value is not None:
            out[name] = value
    return out
