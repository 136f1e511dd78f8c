"""Each evidence rule with a case that must trigger it and one that must not."""

from __future__ import annotations

from datetime import datetime, timedelta

from mtls_doctor.diagnose.evidence import (
    affected_evidence,
    expired_evidence,
    human_delta,
    not_yet_valid_evidence,
)

T = datetime(2024, 4, 5, 12, 0)


def row(nb: datetime | None, na: datetime | None, first: datetime = T) -> tuple[object, ...]:
    return ("0A", "CN=x", nb, na, 3, 1, first, first + timedelta(minutes=5))


def test_expired_says_how_long_before_the_connection() -> None:
    ev = expired_evidence([row(None, T - timedelta(days=3, hours=2))])
    assert ev.items[0]["expired_before_first_failure_seconds"] == (3 * 24 + 2) * 3600
    assert "3 days 2 hours before" in ev.notes[0]


def test_expired_with_notafter_after_the_connection_is_not_called_expired_leaf() -> None:
    ev = expired_evidence([row(None, T + timedelta(days=10))])
    assert "intermediate" in ev.notes[0]
    assert "before its first failed" not in ev.notes[0]


def test_not_yet_valid_by_minutes_is_clock_skew() -> None:
    ev = not_yet_valid_evidence([row(T + timedelta(minutes=7), None)])
    assert ev.items[0]["clock_skew_suspected"] is True
    assert "clock" in ev.notes[0]


def test_not_yet_valid_by_days_is_not_clock_skew() -> None:
    ev = not_yet_valid_evidence([row(T + timedelta(days=3), None)])
    assert "clock_skew_suspected" not in ev.items[0]
    assert "future NotBefore" in ev.notes[0]


def test_missing_subject_is_explained_only_when_missing() -> None:
    missing = affected_evidence([("", None, None, None, 1, 1, T, T)])
    present = affected_evidence([row(None, None)])
    assert missing.notes and not present.notes


def test_human_delta() -> None:
    assert human_delta(timedelta(seconds=40)) == "40 seconds"
    assert human_delta(timedelta(days=1, hours=1, minutes=5)) == "1 day 1 hour"
