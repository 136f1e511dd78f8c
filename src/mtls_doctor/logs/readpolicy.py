"""The one read policy: what reading found besides rows, and what ``--strict`` means.

Every command that reads logs (``logs query``, ``ingest``, ``diagnose``, ``report``,
``support-bundle``) ends its read with :func:`settle`: the malformed lines are numbered and
the file faults listed in :class:`ReadStats`, and under ``--strict`` the first of them (in
file order, then line order) ends the command with :class:`LogFormatError` (exit 3),
naming the file and the line. A fault names the line after the last one read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.errors import LogFormatError
from mtls_doctor.logs.reader import FileFault, FileSet, ParseIssue, locate_lines

MALFORMED_LOCATED = 10_000  # malformed lines looked up again to be numbered


@dataclass
class ReadStats:
    """What reading found besides rows: malformed lines, faulty files, names passed over."""

    files: int = 0
    malformed: int = 0
    extra_field_lines: int = 0
    unknown_code_lines: int = 0
    issues: list[ParseIssue] = field(default_factory=list)
    faults: list[FileFault] = field(default_factory=list)
    skipped_unknown: tuple[str, ...] = ()
    rows: int | None = None  # connection lines read (malformed ones excluded), when counted

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "malformed_lines": self.malformed,
            "extra_field_lines": self.extra_field_lines,
            "unknown_code_lines": self.unknown_code_lines,
            "errors": [i.to_dict() for i in self.issues],
            "faults": [f.to_dict() for f in self.faults],
            "skipped_unknown": list(self.skipped_unknown),
        }


def settle(
    stats: ReadStats,
    fileset: FileSet,
    bad: Iterable[tuple[str, str, str]],
    *,
    strict: bool,
) -> None:
    """Finish a read of ``fileset``: number the malformed lines ``bad`` (``(filename, line,
    reason)`` as DuckDB saw them), list the file faults, and apply ``strict``."""
    stats.faults = list(fileset.faults)
    bad = list(bad)
    located = locate_lines(fileset, bad, MALFORMED_LOCATED, fileset.numbered) if bad else []
    stats.issues = located
    if strict:
        enforce(stats.issues, stats.faults)


def enforce(issues: Iterable[ParseIssue], faults: Iterable[FileFault]) -> None:
    """``--strict``: raise for the first malformed line or file fault, if there is one."""
    problems = [(i.file, i.line or 0, i.message) for i in issues] + [
        (f.file, f.lines_read + 1, f.message) for f in faults
    ]
    if problems:
        raise LogFormatError(*min(problems, key=lambda p: (p[0], p[1])))
