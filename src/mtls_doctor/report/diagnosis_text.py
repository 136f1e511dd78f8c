"""A diagnosis as plain text for a terminal, and as Markdown for a ticket."""

from __future__ import annotations

from datetime import datetime

from mtls_doctor.diagnose.model import (
    Diagnosis,
    FailureGroup,
    correlation_text,
    likely_cause_text,
)
from mtls_doctor.knowledge.catalogue import get_entry

BAR_WIDTH = 40


def _t(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value else "-"


def _bar(count: int, peak: int) -> str:
    return "#" * max(1, round(BAR_WIDTH * count / peak)) if peak else ""


def _summary_lines(d: Diagnosis) -> list[str]:
    s = d.summary
    lines = [
        f"Connections     {s.connections}  (TLS {s.tls_connections}, not TLS {s.not_tls})",
        f"Succeeded       {s.succeeded}",
        f"Failed          {s.failed}  ({s.failure_rate:.1%} of TLS connections)",
        f"Time span       {_t(s.first_seen)} .. {_t(s.last_seen)}",
        f"Files read      {s.files}; malformed lines {s.malformed_lines}; "
        f"lines with undocumented codes {s.unknown_code_lines}",
    ]
    if d.by_status:
        lines.append("By status       " + ", ".join(f"{k} {v}" for k, v in d.by_status))
    return lines


def _group_lines(g: FailureGroup, markdown: bool) -> list[str]:
    entry = get_entry(g.code)
    head = f"{g.code}: {g.count} ({g.share:.0%} of failures)"
    lines = [f"## {head}" if markdown else head, ""]
    if not g.documented:
        lines.append("Not one of the 13 documented ALB codes.")
    lines.append(f"Meaning: {entry.meaning}")
    lines.append(
        f"Clients {g.clients}, certificates {g.certificates}; "
        f"first {_t(g.first_seen)}, last {_t(g.last_seen)}"
    )
    if g.change:
        lines.append(f"Change: {g.change.message}")
        cause = likely_cause_text(g.change)
        if cause:
            lines.append(cause)
        if g.change.load_balancers:  # which ALBs to look at first, when the logs name them
            lines.append("Failing since then on: " + ", ".join(g.change.load_balancers))
    lines += _list_block(
        "Top clients",
        [f"{c['client_ip']}  {c['count']}  (last {_t(c['last_seen'])})" for c in g.top_clients],
        markdown,
    )
    lines += _list_block(
        "Top certificates",
        [
            f"{c['subject'] or '-'}  serial {c['serial'] or '-'}  {c['count']}"
            + (f"  NotAfter {_t(c['not_after'])}" if c.get("not_after") else "")
            for c in g.top_certificates
        ],
        markdown,
    )
    lines += _list_block("Evidence", list(g.evidence.notes), markdown)
    lines += _list_block(
        "Checked against the files you gave",
        [correlation_text(c) for c in g.correlation],
        markdown,
    )
    lines += _timeline(g, markdown)
    lines += ["", "What to do:" if not markdown else "**What to do:**", ""]
    lines += [f"```\n{r}\n```" if markdown and "$ " in r else r for r in g.resolution]
    return [*lines, ""]


def _list_block(title: str, items: list[str], markdown: bool) -> list[str]:
    if not items:
        return []
    head = f"**{title}:**" if markdown else f"{title}:"
    return ["", head, *[f"- {i}" if markdown else f"  {i}" for i in items]]


def _timeline(g: FailureGroup, markdown: bool) -> list[str]:
    if len(g.timeline) < 2:
        return []
    peak = max(n for _, n in g.timeline)
    rows = [f"{t:%Y-%m-%d %H:%M}  {n:6}  {_bar(n, peak)}" for t, n in g.timeline[-24:]]
    title = f"Timeline (per {g.timeline_unit}, last {len(rows)})"
    if markdown:
        return ["", f"**{title}:**", "```", *rows, "```"]
    return ["", f"{title}:", *[f"  {r}" for r in rows]]


def render_text(d: Diagnosis) -> str:
    """The report a person reads in a terminal."""
    lines = ["mtls-doctor diagnosis", "=" * 21, *_summary_lines(d), ""]
    if not d.failures:
        lines.append("No failed mTLS connections in this selection.")
    for group in d.failures:
        lines += _group_lines(group, markdown=False)
    lines += _warning_lines(d, markdown=False)
    lines += _error_lines(d, markdown=False)
    return "\n".join(lines).rstrip() + "\n"


def render_markdown(d: Diagnosis) -> str:
    """The same report, to paste into a ticket."""
    lines = ["# mtls-doctor diagnosis", "", *[f"- {x}" for x in _summary_lines(d)], ""]
    if not d.failures:
        lines.append("No failed mTLS connections in this selection.")
    for group in d.failures:
        lines += _group_lines(group, markdown=True)
    lines += _warning_lines(d, markdown=True)
    lines += _error_lines(d, markdown=True)
    return "\n".join(lines).rstrip() + "\n"


def _warning_lines(d: Diagnosis, markdown: bool) -> list[str]:
    if not d.warnings:
        return []
    lines = ["## Warnings" if markdown else "Warnings:", ""]
    for w in d.warnings:
        lines.append(f"- {w.message}" if markdown else f"  {w.message}")
        for item in w.items[:10]:
            detail = (
                f"{item.get('subject') or '-'} serial {item.get('serial') or '-'} "
                f"NotAfter {_t(item.get('not_after'))}"
            )
            lines.append(f"  - {detail}" if markdown else f"    {detail}")
    return lines


MAX_ERRORS = 20


def _error_lines(d: Diagnosis, markdown: bool) -> list[str]:
    """The file faults (a truncated gzip) and skipped lines the JSON lists under ``errors``:
    a count read from a damaged file is a lower bound, so the reader must see it here too."""
    if not d.errors:
        return []
    title = "Read problems (counts above miss what these files did not give)"
    lines = ["", f"## {title}" if markdown else f"{title}:", ""]
    for error in d.errors[:MAX_ERRORS]:
        where = f"{error['file']}:{error['line']}" if error.get("line") else str(error["file"])
        lines.append(
            f"- {where}: {error['message']}" if markdown else f"  {where}: {error['message']}"
        )
    if len(d.errors) > MAX_ERRORS:
        more = f"... and {len(d.errors) - MAX_ERRORS} more (--format json lists them all)"
        lines.append(f"- {more}" if markdown else f"  {more}")
    return lines
