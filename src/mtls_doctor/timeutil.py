"""Times as users type them: ISO 8601 or relative (``2h``, ``30m``, ``7d``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mtls_doctor.errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime) -> datetime:
    """An aware UTC datetime from ``text``; relative values count back from ``now``.

    A naive ISO time is taken as UTC, since ALB logs are in UTC.
    """
    value = text.strip()
    match = _RELATIVE.match(value)
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            return now.astimezone(UTC) - timedelta(**{_UNITS[unit]: amount})
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{text!r} is not a time",
            hint="Use ISO 8601 (2024-04-05T18:00:00Z, 2024-04-05) or a duration back from now "
            "(30m, 2h, 7d).",
        ) from None


def to_naive_utc(value: datetime) -> datetime:
    """DuckDB TIMESTAMP columns hold naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 with ``Z``; microseconds only when there are some."""
    if value is None:
        return None
    naive = to_naive_utc(value)
    text = naive.isoformat(timespec="microseconds" if naive.microsecond else "seconds")
    return text + "Z"


def check_window(
    since: datetime | None, until: datetime | None, until_name: str = "--until"
) -> None:
    """A window [since, until) that holds no instant is a mistake in the command, not an
    empty result: usually --since and --until swapped. ``until_name`` is the option that
    ended the window (``--at`` ends it when no ``--until`` is given)."""
    if since is not None and until is not None and since >= until:
        hint = (
            "Swap them, or use --since alone (a duration such as 6h counts back from now)."
            if until_name == "--until"
            else f"Give a --since before {until_name}, or a duration such as 6h "
            f"(it counts back from {until_name})."
        )
        raise UsageError(
            f"--since {iso_z(since)} is not before {until_name} {iso_z(until)}: "
            "the window is empty",
            hint=hint,
        )
