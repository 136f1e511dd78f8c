"""A ``ModifyListener`` that changed what the listener checks, in the way a failure code needs.

The request's ``mutualAuthentication`` (``mode``, ``trustStoreArn``,
``ignoreClientCertificateExpiry``) is compared with the listener's previous event, when one
was read; otherwise the previous value is said to be unknown. [INFERENCE] the lower-camel
keys (see :mod:`mtls_doctor.trail.event`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mtls_doctor.trail.event import PARAMS, ChangeEvent

EXPIRY_CODES = frozenset({"ClientCertExpired"})
TRUST_STORE_CODES = frozenset(
    {"ClientCertUntrusted", "ClientCertCrlHit", "ClientCertCrlProcessingError"}
)


def _mutual(event: ChangeEvent) -> Mapping[str, Any]:
    value = event.request.get(PARAMS["mutual"])
    return value if isinstance(value, Mapping) else {}


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def previous_setting(event: ChangeEvent, name: str, history: Sequence[ChangeEvent]) -> object:
    """The listener's value of ``name`` from its latest earlier event that set it, else None."""
    earlier = [
        e
        for e in history
        if e.event_name == "ModifyListener"
        and e.is_write
        and e.resource_arn == event.resource_arn
        and e.event_time < event.event_time
        and name in _mutual(e)
    ]
    return _mutual(max(earlier, key=lambda e: e.event_time))[name] if earlier else None


def _was(value: object) -> str:
    return "unknown before" if value is None else f"was {value}"


def listener_change(
    event: ChangeEvent, code: str, history: Sequence[ChangeEvent]
) -> tuple[str, dict[str, Any]] | None:
    """``(summary, details)`` when the event's settings explain ``code``; else None."""
    mutual = _mutual(event)
    checks = (
        ("ignoreClientCertificateExpiry", _expiry),
        ("mode", _mode),
        ("trustStoreArn", _trust_store),
    )
    for name, check in checks:
        if name not in mutual:
            continue
        before = previous_setting(event, name, history)
        summary = check(mutual[name], before, code)
        if summary is not None:
            return summary, {"setting": name, "new": mutual[name], "previous": before}
    return None


def _expiry(new: object, before: object, code: str) -> str | None:
    if code not in EXPIRY_CODES or _flag(new) is not False or _flag(before) is False:
        return None
    return f"IgnoreClientCertificateExpiry turned off ({_was(before)}): expired certificates fail"


def _mode(new: object, before: object, code: str) -> str | None:
    if not code.startswith("ClientCert") or new != "verify" or before == "verify":
        return None
    return f"mutual TLS mode set to verify ({_was(before)}): client certificates are now checked"


def _trust_store(new: object, before: object, code: str) -> str | None:
    if code not in TRUST_STORE_CODES or not isinstance(new, str) or new == before:
        return None
    return f"the listener now uses trust store {new} ({_was(before)})"
