"""One finding: a code, what it concerns, a plain sentence and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

SEVERITIES = ("error", "warning", "info")


@lru_cache(maxsize=64)
def catalogue_fix(code: str) -> str:
    """The one-line fix for an ALB reason code, from the reason-code catalogue.

    Imported lazily (the catalogue reads its TOML on first use); the catalogue is the one
    place fix texts are written, so a code it lacks gets an empty fix.
    """
    try:
        from mtls_doctor.knowledge.catalogue import get_entry  # lazy: loads the TOML once
    except ImportError:
        return ""
    try:
        return get_entry(code).fix_summary
    except LookupError:
        return ""


@dataclass(frozen=True)
class Finding:
    """One problem (or note) about a chain, a bundle or a CRL.

    ``certificate`` is the index in the client chain, or a label such as
    ``"trust store #2 CN=Root"`` or ``"crl.pem"``; ``line`` is a 1-based line in a bundle.
    """

    code: str
    severity: str
    certificate: int | str | None
    message: str
    fix: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "certificate": self.certificate,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


def alb_finding(
    code: str, certificate: int | str | None, message: str, severity: str = "error"
) -> Finding:
    """A finding for a documented ALB code, with the catalogue's fix."""
    return Finding(code, severity, certificate, message, catalogue_fix(code))
