"""The configuration changes behind each significant change point (issue #21, docs/changes.md).

Runs on a finished diagnosis: for every failure group with a change point, the ELB writes of
the change source in the look-back before it are linked to the group's failing serials
(:mod:`mtls_doctor.trail.link`). The change source is read by the caller, once, over the
window the change points need (:func:`change_window`); what could not be read becomes a
warning of the diagnosis, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mtls_doctor.diagnose.model import Diagnosis, DiagnosisWarning, FailureGroup
from mtls_doctor.trail.files import ChangeRead
from mtls_doctor.trail.link import Cause, Failing, link_causes
from mtls_doctor.trail.objects import CachedFetcher, ObjectFetcher
from mtls_doctor.trail.select import DEFAULT_LOOKBACK, LISTENER_EVENTS, Scope, possible_causes
from mtls_doctor.trail.verdicts import ClientChain

SLACK = timedelta(minutes=1)
FindChain = Callable[[str], "tuple[str, tuple[bytes, ...]] | None"]


def aware(at: datetime) -> datetime:
    """Change points are naive UTC (as DuckDB gives them); events are aware."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def change_window(
    diagnosis: Diagnosis, lookback: timedelta = DEFAULT_LOOKBACK
) -> tuple[datetime, datetime] | None:
    """``(since, until)`` of change events the diagnosis' change points need; None if none."""
    points = [aware(g.change.at) for g in diagnosis.failures if g.change is not None]
    if not points:
        return None
    return min(points) - lookback, max(points) + SLACK


def _chains(serials: tuple[str, ...], find: FindChain | None) -> tuple[ClientChain, ...]:
    if find is None:
        return ()
    found = [(s, find(s)) for s in serials]
    return tuple(ClientChain(s, hit[0], hit[1]) for s, hit in found if hit is not None)


def failing_serials(group: FailureGroup) -> tuple[str, ...]:
    """The leaf serials the diagnosis names for the code (top certificates and evidence)."""
    found = [c.get("serial") for c in group.top_certificates]
    found += [i.get("serial") for i in group.evidence.items]
    return tuple(sorted({s for s in found if isinstance(s, str) and s and s != "-"}))


def scope_of(given: Scope, load_balancers: tuple[str, ...]) -> Scope:
    """The scope of one change point: what ``--lb`` / ``--listener-arn`` gave, else the load
    balancers its failing connections came through (the logs' ``elb``).

    UNCONFIRMED (spec alb-mtls.md, fields 14-15): ``elb`` is documented by one mirror only,
    as ``app/NAME/ID``, the form a listener ARN holds; logs without it scope nothing."""
    if given.listeners or given.load_balancers or not load_balancers:
        return given
    return replace(given, load_balancers=frozenset(load_balancers))


def _say_scope_unknown(causes: list[Cause], scope: Scope) -> list[Cause]:
    """A trust-store change is kept when nothing ties a trust store to the listener at hand
    (no --trust-store-arn, no ModifyListener of it naming one), and said to be so."""
    if scope.trust_stores:
        return causes
    where = ", ".join(sorted(scope.listeners or scope.load_balancers)) or "the listener"
    out = []
    for cause in causes:
        if cause.event.event_name in LISTENER_EVENTS:
            out.append(cause)
            continue
        note = f"scope unknown: nothing read ties this trust store to {where}"
        out.append(
            replace(
                cause,
                summary=f"{cause.summary} ({note})",
                details={**cause.details, "scope": note},
            )
        )
    return out


def attach_causes(
    diagnosis: Diagnosis,
    read: ChangeRead,
    fetcher: ObjectFetcher | None,
    scope: Scope = Scope(),
    lookback: timedelta = DEFAULT_LOOKBACK,
    find_chain: FindChain | None = None,
) -> Diagnosis:
    """The diagnosis with ``change.causes`` filled in, and the source's problems as warnings.

    ``find_chain``: a failing serial's certificate file and chain (``--certs``), for the
    verdict engine on the previous and the new bundle.
    """
    cached = CachedFetcher(fetcher) if fetcher is not None else None
    groups = []
    for group in diagnosis.failures:
        change = group.change
        if change is None:
            groups.append(group)
            continue
        at = aware(change.at)
        serials = failing_serials(group)
        failing = Failing(group.code, at, serials, _chains(serials, find_chain))
        here = scope_of(scope, change.load_balancers)
        candidates = possible_causes(read.events, at, here, lookback=lookback, slack=SLACK)
        causes = link_causes(failing, candidates, cached, read.events)
        causes = _say_scope_unknown(causes, here.with_trust_stores(read.events))
        done = replace(change, causes=tuple(causes), causes_complete=read.complete)
        groups.append(replace(group, change=done))
    warnings = diagnosis.warnings
    if read.problems:
        warnings += (
            DiagnosisWarning(
                "change-source",
                f"change source {read.source}: {len(read.problems)} problem(s); the causes "
                "shown rest on what could be read",
                tuple({"problem": p} for p in read.problems),
            ),
        )
    return replace(diagnosis, failures=tuple(groups), warnings=warnings)
