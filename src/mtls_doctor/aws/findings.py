"""A finding about AWS configuration: a code of ours, a severity, a sentence and a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class AwsFinding:
    """One observation about a listener, a trust store or log delivery."""

    code: str
    severity: str  # error | warning | info
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


def sort_findings(findings: list[AwsFinding]) -> tuple[AwsFinding, ...]:
    return tuple(sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity]))


def has_problems(findings: tuple[AwsFinding, ...]) -> bool:
    """True when a finding is an error or a warning (the commands then exit 1)."""
    return any(f.severity in ("error", "warning") for f in findings)
