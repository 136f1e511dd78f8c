"""The support bundle's inputs and result (frozen dataclasses; JSON contract in docs/probe.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.sources import Opener
from mtls_doctor.pki.inspect import format_time
from mtls_doctor.probe.model import ProbeOptions

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class BundleSpec:
    """What to gather. Every section is optional; the manifest says which ones were left out."""

    out: Path
    now: datetime
    command_line: tuple[str, ...] = ()
    probe: ProbeOptions | None = None  # --url (and the identity to present)
    cert: Path | None = None  # the client chain; keys in it are stripped
    log_inputs: tuple[str, ...] = ()  # PATHS
    db: Path | None = None
    filters: Filters = field(default_factory=Filters)
    strict: bool = False
    trust_store: Path | None = None
    crls: tuple[Path, ...] = ()
    ignore_expiry: bool = False
    redact_ips: bool = False
    redact_key: bytes | None = field(default=None, repr=False)  # None: random per bundle
    max_log_rows: int = 100_000
    # Readers of s3:// and cloudwatch: PATHS (given by the CLI: bundle never talks to AWS).
    openers: Mapping[str, Opener] | None = field(default=None, compare=False, repr=False)

    @property
    def wants_logs(self) -> bool:
        return bool(self.log_inputs) or self.db is not None


@dataclass(frozen=True)
class BundleFile:
    """One member of the archive."""

    name: str
    size: int
    sha256: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "description": self.description,
        }


@dataclass(frozen=True)
class BundleResult:
    """What was written."""

    out: Path
    created_at: datetime
    files: tuple[BundleFile, ...]
    omitted: tuple[tuple[str, str], ...]  # (section, why)
    warnings: tuple[str, ...]
    probe_outcome: str | None
    log_rows: int | None
    redacted_ips: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "out": str(self.out),
            "created_at": format_time(self.created_at),
            "files": [f.to_dict() for f in self.files],
            "omitted": [{"section": s, "reason": r} for s, r in self.omitted],
            "warnings": list(self.warnings),
            "probe_outcome": self.probe_outcome,
            "log_rows": self.log_rows,
            "redacted_ips": self.redacted_ips,
        }
