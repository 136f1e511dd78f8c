"""The sections of a diagnosis as HTML, shared by the report file and the dashboard.

Each renders a :class:`Diagnosis` (or the cross-code :class:`Overview`) and computes no
number of its own. ``Links`` says where a code, a client and a certificate serial link to:
anchors in the report file, the dashboard's own pages there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mtls_doctor.diagnose.model import (
    Diagnosis,
    DiagnosisWarning,
    FailureGroup,
    correlation_text,
    likely_cause_text,
)
from mtls_doctor.diagnose.overview import Overview
from mtls_doctor.knowledge.catalogue import get_entry
from mtls_doctor.markup.charts import horizontal_bars, stacked_timeline
from mtls_doctor.markup.kit import bar_cell, cards, esc, link, pct, table, when
from mtls_doctor.trail.link import Cause

Href = Callable[[str], str]


def _code_anchor(code: str) -> str:
    return f"#code-{code}"


@dataclass(frozen=True)
class Links:
    """Where a code, a client and a certificate serial link to (anchors in the file)."""

    code: Href = _code_anchor
    client: Href | None = None
    certificate: Href | None = None


def _maybe(href: Href | None, value: Any) -> str:
    return link(href(str(value)), value) if href and value else esc(value)


def headline(d: Diagnosis) -> str:
    s = d.summary
    return cards(
        [
            ("connections", str(s.connections), ""),
            ("TLS connections", str(s.tls_connections), ""),
            ("failed", str(s.failed), "bad" if s.failed else "ok"),
            ("failure rate", pct(s.failure_rate), "bad" if s.failed else "ok"),
            ("succeeded", str(s.succeeded), "ok"),
            ("failure codes", str(len(d.failures)), "bad" if d.failures else "ok"),
            ("not TLS", str(s.not_tls), ""),
            ("malformed lines", str(s.malformed_lines), "warn" if s.malformed_lines else ""),
        ]
    ) + (
        f'<p class="muted">From {when(s.first_seen)} to {when(s.last_seen)}; '
        f"{s.files} file(s) read.</p>"
    )


def timeline(d: Diagnosis) -> str:
    if not d.failures:
        return '<p class="empty">No failed mTLS connections in this selection.</p>'
    unit = d.failures[0].timeline_unit
    series = {g.code: g.timeline for g in d.failures}
    return f'<p class="muted">Failed connections per {esc(unit)}.</p>' + stacked_timeline(
        series, unit
    )


def codes_table(d: Diagnosis, links: Links) -> str:
    bars = horizontal_bars([(g.code, g.count) for g in d.failures], title="Failures by code")
    rows = [
        [
            link(links.code(g.code), g.code),
            str(g.count),
            pct(g.share),
            str(g.clients),
            str(g.certificates),
            when(g.first_seen),
            when(g.last_seen),
            esc(g.change.message) if g.change else "",
        ]
        for g in d.failures
    ]
    head = ["Code", "Failures", "Share", "Clients", "Certificates", "First", "Last", "Change"]
    return bars + table(head, rows, numeric=(1, 2, 3, 4), empty="No failures.")


def top_tables(overview: Overview, links: Links) -> str:
    peak = max((c["count"] for c in overview.top_clients), default=0)
    clients = [
        [
            _maybe(links.client, c["client_ip"]),
            bar_cell(c["count"], peak),
            ", ".join(link(links.code(x), x) for x in c["codes"]),
            when(c["last_seen"]),
        ]
        for c in overview.top_clients
    ]
    peak = max((c["count"] for c in overview.top_certificates), default=0)
    certs = [
        [
            _maybe(links.certificate, c["serial"]),
            esc(c["subject"]),
            bar_cell(c["count"], peak),
            str(c["clients"]),
            ", ".join(link(links.code(x), x) for x in c["codes"]),
            when(c["not_after"]),
        ]
        for c in overview.top_certificates
    ]
    return (
        "<h3>Top failing clients</h3>"
        + table(["Client", "Failures", "Codes", "Last failure"], clients, numeric=(1,),
                empty="No failing client.")
        + "<h3>Top failing certificates</h3>"
        + table(["Serial", "Subject", "Failures", "Clients", "Codes", "NotAfter"], certs,
                numeric=(2, 3), empty="No failing certificate.")
    )  # fmt: skip


def _evidence(g: FailureGroup) -> str:
    notes = "".join(f"<li>{esc(n)}</li>" for n in g.evidence.notes)
    out = f"<ul>{notes}</ul>" if notes else ""
    items = g.evidence.items[:20]
    if items:
        keys = list(dict.fromkeys(k for item in items for k in item))
        out += table(keys, [[esc(item.get(k)) for k in keys] for item in items])
    return out or '<p class="empty">No field-level evidence for this code.</p>'


def _fix(g: FailureGroup) -> str:
    entry = get_entry(g.code)
    steps = "".join(_step_html(line) for line in g.resolution)
    links = "".join(f"<li>{link(x.url, x.title)}</li>" for x in entry.links)
    return (
        f"<p>{esc(entry.fix_summary)}</p>"
        + (f'<ol class="steps">{steps}</ol>' if steps else "")
        + (f'<p class="muted">AWS documentation:</p><ul>{links}</ul>' if links else "")
    )


def _step_html(line: str) -> str:
    # resolution lines are "N. action" then "   $ command" lines.
    first, *commands = line.split("\n")
    text = first.split(". ", 1)[1] if ". " in first else first
    code = "\n".join(c.strip() for c in commands)
    return f"<li>{esc(text)}" + (f"<pre>{esc(code)}</pre>" if code else "") + "</li>"


def code_section(g: FailureGroup, links: Links, *, heading: str = "h2") -> str:
    entry = get_entry(g.code)
    clients = [
        [_maybe(links.client, c["client_ip"]), str(c["count"]), when(c["last_seen"])]
        for c in g.top_clients
    ]
    certs = [
        [_maybe(links.certificate, c["serial"]), esc(c["subject"]), str(c["count"]),
         str(c["clients"]), when(c.get("not_before")), when(c.get("not_after"))]
        for c in g.top_certificates
    ]  # fmt: skip
    badge = "" if g.documented else ' <span class="badge">not a documented ALB code</span>'
    correlation = "".join(f"<li>{esc(correlation_text(c))}</li>" for c in g.correlation)
    return (
        f'<section class="code-section" id="code-{esc(g.code)}">'
        f"<{heading}>{esc(g.code)}{badge}</{heading}>"
        f'<p><span class="badge bad">{g.count} failures</span> '
        f"{pct(g.share)} of failures · {g.clients} client(s) · {g.certificates} certificate(s)"
        f" · first {when(g.first_seen)} · last {when(g.last_seen)}</p>"
        f"<p>{esc(entry.meaning)}</p>"
        + (f'<p class="notice">{esc(g.change.message)}</p>' if g.change else "")
        + (f'<p class="notice">{esc(cause)}</p>'
           if g.change and (cause := likely_cause_text(g.change)) else "")
        + (causes_html(g.change.causes) if g.change and g.change.causes else "")
        + "<h3>Evidence</h3>"
        + _evidence(g)
        + (f"<h3>Checked against the files you gave</h3><ul>{correlation}</ul>"
           if correlation else "")
        + "<h3>Affected clients</h3>"
        + table(["Client", "Failures", "Last failure"], clients, numeric=(1,))
        + "<h3>Affected certificates</h3>"
        + table(["Serial", "Subject", "Failures", "Clients", "NotBefore", "NotAfter"], certs,
                numeric=(2, 3), empty="No certificate was logged (none sent, or not parsed).")
        + "<h3>What to do</h3>"
        + _fix(g)
        + "</section>"
    )  # fmt: skip


def _warning_html(w: DiagnosisWarning) -> str:
    rows = [
        [esc(i.get("serial")), esc(i.get("subject")), when(i.get("not_after")),
         esc(i.get("clients")), when(i.get("last_seen"))]
        for i in w.items[:50]
    ]  # fmt: skip
    body = f'<p class="notice">{esc(w.message)}</p>'
    if rows:
        body += table(["Serial", "Subject", "NotAfter", "Clients", "Last seen"], rows)
    return body


def expiring_section(d: Diagnosis) -> str:
    found = [w for w in d.warnings if w.kind in ("expiring_soon", "expired_but_accepted")]
    if not found:
        return '<p class="empty">No working certificate expires within the warning window.</p>'
    return "".join(_warning_html(w) for w in found)


def trust_section(d: Diagnosis) -> str:
    """Findings about the trust store, CRLs and certificates given (empty when none given)."""
    inputs = [w for w in d.warnings if w.kind not in ("expiring_soon", "expired_but_accepted")]
    items = [(g.code, c) for g in d.failures for c in g.correlation]
    if not inputs and not items:
        return ""
    body = "".join(f'<p class="notice">{esc(w.message)}</p>' for w in inputs)
    rows = [[esc(code), esc(correlation_text(c))] for code, c in items]
    return (
        '<h2 id="trust">Trust store and CRL findings</h2>'
        + body
        + table(["Code", "Finding"], rows, empty="No certificate finding.")
    )


def errors_section(d: Diagnosis) -> str:
    if not d.errors:
        return ""
    rows = [[esc(e.get("file")), esc(e.get("line")), esc(e.get("message"))] for e in d.errors[:50]]
    return "<h2>Lines that could not be read</h2>" + table(["File", "Line", "Problem"], rows)


def causes_html(causes: Sequence[Cause]) -> str:
    """The changes before a change point, most likely first, with what each changed."""
    rows = [
        [esc(c.event.event_name), when(c.event.event_time), esc(c.event.actor),
         esc(c.event.resource_arn), esc(c.evidence), esc(" ".join(c.matched_serials) or None),
         esc(c.summary)]
        for c in causes
    ]  # fmt: skip
    head = ["Event", "Time", "Actor", "Resource", "Evidence", "Matched serials", "Summary"]
    diffs = "".join(_cause_diff(c) for c in causes)
    return "<h3>Configuration changes before it</h3>" + table(head, rows) + diffs


def _cause_diff(cause: Cause) -> str:
    d = cause.details
    items = [
        f"<li>CA {key}: {esc(ca['subject'])}, serial {esc(ca['serial'])}, "
        f"SHA-256 {esc(ca['sha256'])}</li>"
        for key in ("removed", "added")
        for ca in d.get(key, [])
    ]
    items += [
        f"<li>CRL {esc(crl['object'])}: {esc(crl['revoked'])} revoked serial(s)</li>"
        for crl in d.get("crls", [])
    ]
    items += [
        f"<li>unreadable {esc(u['object'])}: {esc(u['error'])}</li>"
        for u in d.get("unreadable", [])
    ]
    if not items:
        return ""
    title = f"{esc(cause.event.event_name)} at {when(cause.event.event_time)}"
    return f"<p>{title}</p><ul>{''.join(items)}</ul>"
