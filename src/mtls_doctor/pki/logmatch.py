"""Compare a prediction with what the ALB logged (``cert check --log-line``).

The line itself is read by :func:`mtls_doctor.diagnose.logline.parse_log_line`, with the
project's one connection-log parser; this module only compares, so pki needs no DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtls_doctor.knowledge.codes import SUCCESS
from mtls_doctor.pki.inspect import format_time
from mtls_doctor.pki.names import same_text


@dataclass(frozen=True)
class LoggedConnection:
    """The fields of a log line that a prediction can be compared with."""

    timestamp: datetime
    status: str  # "Success", the bare code, or "-"
    serial: str | None
    subject: str | None


@dataclass(frozen=True)
class LogComparison:
    """Whether the predicted verdict is what the ALB logged."""

    logged: LoggedConnection
    predicted: str
    notes: tuple[str, ...]

    @property
    def matches(self) -> bool:
        """True when the prediction equals the logged status."""
        return self.predicted == self.logged.status

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema_version": 1,
            "logged_status": self.logged.status,
            "logged_at": format_time(self.logged.timestamp),
            "predicted": self.predicted,
            "matches": self.matches,
            "notes": list(self.notes),
        }


def compare_with_log(
    logged: LoggedConnection, predicted: str, leaf_serial: int | None, leaf_subject: str | None
) -> LogComparison:
    """Compare ``predicted`` with ``logged``, noting when the line is about another certificate.

    Subjects are compared as names (RFC 5280 §7.1: case, spacing and string type do not
    count), so a log that writes the subject differently still matches its certificate.
    """
    notes = []
    if logged.serial and leaf_serial is not None:
        try:
            same = int(logged.serial, 16) == leaf_serial  # numeric compare (spec §1.7)
        except ValueError:
            same = False
        if not same:
            notes.append(f"the log line's serial {logged.serial} is not the leaf's serial")
    if logged.subject and leaf_subject and not same_text(logged.subject, leaf_subject):
        notes.append("the log line's subject differs from the leaf's subject")
    if logged.status == "-":
        notes.append("the log line is not a TLS connection")
    elif logged.status != SUCCESS and predicted != logged.status:
        notes.append(f"the ALB logged {logged.status}; mtls-doctor predicts {predicted}")
    return LogComparison(logged, predicted, tuple(notes))
