"""Which events can be causes: successful writes, to the listener or trust store at hand,
in the look-back before a change point.

Read-only calls (``readOnly: true``, ``Describe*``, ``Get*``) and failed calls (an
``errorCode``) changed nothing. Changes to other listeners or trust stores are left out when
the listener or trust store is known: from ``--listener-arn``, the logs' ``elb`` field (a
listener ARN names its load balancer), or the events themselves (a ``ModifyListener`` of the
listener naming its trust store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mtls_doctor.trail.event import CAUSE_EVENTS, PARAMS, ChangeEvent

DEFAULT_LOOKBACK = timedelta(minutes=30)
LISTENER_EVENTS = frozenset({"ModifyListener", "ModifyListenerAttributes"})


@dataclass(frozen=True)
class Scope:
    """What the diagnosis is about; empty sets mean unknown (nothing is left out for it)."""

    listeners: frozenset[str] = frozenset()
    load_balancers: frozenset[str] = frozenset()  # app/NAME/ID, as in the logs' elb field
    trust_stores: frozenset[str] = frozenset()

    def listener_in(self, arn: str | None) -> bool:
        if arn is None:
            return True
        if self.listeners:
            return arn in self.listeners
        if self.load_balancers:
            return any(f":listener/{lb}/" in arn for lb in self.load_balancers)
        return True

    def with_trust_stores(self, events: Iterable[ChangeEvent]) -> Scope:
        """Add the trust stores that in-scope listeners were set to use."""
        if not (self.listeners or self.load_balancers):
            return self
        named = {
            arn
            for e in events
            if e.event_name in LISTENER_EVENTS and self.listener_in(e.resource_arn)
            for arn in [trust_store_of(e)]
            if arn
        }
        return Scope(self.listeners, self.load_balancers, self.trust_stores | named)

    def trust_store_in(self, arn: str | None) -> bool:
        return arn is None or not self.trust_stores or arn in self.trust_stores


def trust_store_of(event: ChangeEvent) -> str | None:
    """The trust store a listener event puts in effect, if it names one."""
    mutual = event.request.get(PARAMS["mutual"])
    if isinstance(mutual, Mapping):
        arn = mutual.get("trustStoreArn")
        if isinstance(arn, str) and arn:
            return arn
    return None


def in_scope(event: ChangeEvent, scope: Scope) -> bool:
    if event.event_name in LISTENER_EVENTS:
        return scope.listener_in(event.resource_arn)
    return scope.trust_store_in(event.resource_arn)


def possible_causes(
    events: Sequence[ChangeEvent],
    at: datetime,
    scope: Scope = Scope(),
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    slack: timedelta = timedelta(minutes=1),
) -> list[ChangeEvent]:
    """The writes in ``[at - lookback, at + slack]`` that can cause a failure, newest first.

    ``slack`` covers a change point placed at the start of its minute while the call came
    during that minute.
    """
    full = scope.with_trust_stores(events)
    chosen = [
        e
        for e in events
        if e.is_write
        and e.event_name in CAUSE_EVENTS
        and at - lookback <= e.event_time <= at + slack
        and in_scope(e, full)
    ]
    return sorted(chosen, key=lambda e: e.event_time, reverse=True)
