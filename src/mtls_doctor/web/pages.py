"""The dashboard's HTML pages. Section builders are shared with the HTML report
(:mod:`mtls_doctor.markup.sections`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtls_doctor.diagnose.model import Diagnosis, FailureGroup
from mtls_doctor.diagnose.overview import Overview
from mtls_doctor.diagnose.tls import TlsMix
from mtls_doctor.knowledge.catalogue import CatalogueEntry
from mtls_doctor.markup.kit import document, esc, link, path_part, query, table, when
from mtls_doctor.markup.sections import (
    Links,
    code_section,
    codes_table,
    expiring_section,
    headline,
    timeline,
    top_tables,
    trust_section,
)
from mtls_doctor.markup.tls import client_tls, tls_section
from mtls_doctor.web.queries import ConnectionPage
from mtls_doctor.web.source import DataState

SHOWN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "Time"),
    ("client_ip", "Client"),
    ("client_port", "Port"),
    ("listener_port", "Listener"),
    ("tls_protocol", "Protocol"),
    ("tls_verify_status", "Status"),
    ("leaf_client_cert_subject", "Subject"),
    ("leaf_client_cert_serial_number", "Serial"),
    ("not_after", "NotAfter"),
    ("conn_trace_id", "Trace id"),
)


def links(filters: dict[str, str]) -> Links:
    """Links to the dashboard's own pages that keep the time and port filters."""
    keep = query({k: filters[k] for k in ("since", "until", "listener_port") if k in filters})
    return Links(
        code=lambda c: f"/code/{path_part(c)}{keep}",
        client=lambda ip: f"/client/{path_part(ip)}{keep}",
        certificate=lambda s: f"/cert/{path_part(s)}{keep}",
    )


def page(title: str, body: str, state: DataState | None) -> str:
    nav = (
        '<nav class="top"><a href="/">Overview</a><a href="/connections">Connections</a>'
        '<span class="muted" style="margin-left:auto">mtls-doctor dashboard</span></nav>'
    )
    notice = ""
    if state is not None and not state.current:
        notice = f'<p class="notice" id="stale">{esc(state.note)}</p>'
    elif state is not None:
        notice = f'<p class="muted">Data as of {when(state.as_of)}.</p>'
    return document(title, notice + body, nav=nav)


def _select(name: str, label: str, options: Sequence[str], current: str | None) -> str:
    opts = ['<option value="">any</option>'] + [
        f'<option value="{esc(o)}"{" selected" if o == current else ""}>{esc(o)}</option>'
        for o in options
    ]
    return f'<label>{esc(label)}<select name="{name}">{"".join(opts)}</select></label>'


def _text(name: str, label: str, current: str | None, hint: str) -> str:
    return (
        f'<label>{esc(label)}<input type="text" name="{name}" value="{esc(current or "")}" '
        f'placeholder="{esc(hint)}"></label>'
    )


def filter_form(
    action: str,
    filters: dict[str, str],
    ports: Sequence[Any],
    statuses: Sequence[str],
    hidden: dict[str, str] | None = None,
) -> str:
    fields = [
        _text("since", "Since", filters.get("since"), "2h or 2024-04-05T18:00Z"),
        _text("until", "Until", filters.get("until"), "ISO time or 30m"),
        _select("listener_port", "Listener port", [str(p) for p in ports],
                filters.get("listener_port")),
        _select("status", "Status / code", list(statuses), filters.get("status")),
        _text("client_ip", "Client", filters.get("client_ip"), "IP or CIDR"),
    ]  # fmt: skip
    # Filters the form has no field for (given in the URL) are kept and shown.
    others: dict[str, str] = {
        k: filters[k] for k in ("subject", "serial", "tls_protocol") if k in filters
    }
    kept: dict[str, str] = {**others, **(hidden or {})}
    extra = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in kept.items()
    )
    also = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in others.items())
    return (
        f'<form class="filters" method="get" action="{esc(action)}">{"".join(fields)}{extra}'
        '<button type="submit">Apply</button>'
        f'<a href="{esc(action)}">reset</a>'
        + (f'<span class="muted">also: {also}</span>' if also else "")
        + "</form>"
    )


def overview_page(
    d: Diagnosis,
    tops: Overview,
    form: str,
    filters: dict[str, str],
    state: DataState,
    *,
    tls: TlsMix | None = None,
) -> str:
    ln = links(filters)
    body = (
        "<h1>mTLS connections</h1>"
        + form
        + headline(d)
        + '<h2 id="timeline">Failures over time</h2>'
        + timeline(d)
        + '<h2 id="codes">Failures by code</h2>'
        + codes_table(d, ln)
        + '<h2 id="who">Who is affected</h2>'
        + top_tables(tops, ln)
        + '<h2 id="expiring">Certificates expiring soon</h2>'
        + expiring_section(d)
        + (tls_section(tls) if tls is not None else "")
        + trust_section(d)
        + f"<p>{link('/connections' + query(filters), 'All matching connections')}</p>"
    )
    return page("mtls-doctor dashboard", body, state)


def _sort_link(key: str, label: str, p: ConnectionPage, filters: dict[str, str]) -> str:
    order = "asc" if p.sort == key and p.descending else "desc"
    arrow = (" ▼" if p.descending else " ▲") if p.sort == key else ""
    href = "/connections" + query({**filters, "sort": key, "order": order,
                                   "per_page": str(p.per_page)})  # fmt: skip
    return f'<a href="{esc(href)}">{esc(label)}</a>{arrow}'


def _cell(key: str, row: dict[str, Any], ln: Links) -> str:
    value = row.get(key)
    if key == "client_ip" and value and ln.client:
        return link(ln.client(str(value)), value)
    if key == "leaf_client_cert_serial_number" and value and ln.certificate:
        return link(ln.certificate(str(value)), value)
    if key == "tls_verify_status" and row.get("error_code"):
        return link(ln.code(str(row["error_code"])), value)
    return esc(value)


def connections_table(p: ConnectionPage, filters: dict[str, str]) -> str:
    ln = links(filters)
    heads = [_sort_link(k, label, p, filters) for k, label in SHOWN_COLUMNS]
    rows = [[_cell(k, row, ln) for k, _ in SHOWN_COLUMNS] for row in p.rows]
    head_html = "".join(f"<th>{h}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    if not rows:
        return '<p class="empty" id="connections">No connection matches.</p>'
    return (
        f'<table id="connections"><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>'
    )


def _pager(p: ConnectionPage, filters: dict[str, str]) -> str:
    base = {**filters, "sort": p.sort, "order": "desc" if p.descending else "asc",
            "per_page": str(p.per_page)}  # fmt: skip
    prev = link("/connections" + query({**base, "page": str(p.page - 1)}), "← previous")
    nxt = link("/connections" + query({**base, "page": str(p.page + 1)}), "next →")
    csv = link("/connections.csv" + query({k: v for k, v in base.items() if k != "per_page"}),
               "Export CSV")  # fmt: skip
    return (
        f'<div class="pager"><span id="total">{p.total} connection(s)</span>'
        f"<span>page {p.page} of {p.pages}</span>"
        + (prev if p.page > 1 else "")
        + (nxt if p.page < p.pages else "")
        + csv
        + "</div>"
    )


def connections_page(
    p: ConnectionPage, form: str, filters: dict[str, str], state: DataState
) -> str:
    body = "<h1>Connections</h1>" + form + _pager(p, filters) + connections_table(p, filters)
    return page("Connections · mtls-doctor", body, state)


def code_page(
    entry: CatalogueEntry, group: FailureGroup | None, filters: dict[str, str], state: DataState
) -> str:
    ln = links(filters)
    causes = "".join(f"<li>{esc(c)}</li>" for c in entry.causes)
    intro = (
        f"<h1>{esc(entry.key)}</h1><p><strong>{esc(entry.title)}</strong></p>"
        f"<p>{esc(entry.meaning)}</p><h2>Causes</h2><ul>{causes}</ul>"
        f"<p>Who acts: {esc(', '.join(entry.who_acts))}</p>"
    )
    if group is None:
        body = intro + '<p class="empty">No connection failed with this code in the selection.</p>'
    else:
        conn = "/connections" + query({**filters, "status": group.code})
        body = intro + code_section(group, ln) + f"<p>{link(conn, 'Its connections')}</p>"
    return page(f"{entry.key} · mtls-doctor", body, state)


def certs_table(certs: Sequence[dict[str, Any]], ln: Links) -> str:
    rows = [
        [link(ln.certificate(c["serial"]), c["serial"]) if c["serial"] and ln.certificate
         else esc(c["serial"]), esc(c["subject"]), when(c["not_before"]), when(c["not_after"]),
         esc(c["tls_verify_status"]), str(c["count"]), when(c["first_seen"]), when(c["last_seen"])]
        for c in certs
    ]  # fmt: skip
    head = ["Serial", "Subject", "NotBefore", "NotAfter", "Status", "Count", "First", "Last"]
    return table(head, rows, numeric=(5,), empty="No certificate logged.")


def client_page(
    ip: str,
    d: Diagnosis,
    certs: Sequence[dict[str, Any]],
    recent: ConnectionPage,
    filters: dict[str, str],
    state: DataState,
    tls: TlsMix | None = None,
) -> str:
    ln = links(filters)
    statuses = table(["Status", "Connections"], [[esc(s), str(n)] for s, n in d.by_status],
                     numeric=(1,))  # fmt: skip
    groups = "".join(code_section(g, ln, heading="h3") for g in d.failures)
    body = (
        f"<h1>Client {esc(ip)}</h1>"
        + headline(d)
        + "<h2>1. What it got</h2>" + statuses
        + "<h2>2. When</h2>" + timeline(d)
        + "<h2>3. The certificates it presented</h2>" + certs_table(certs, ln)
        + "<h2>4. Why it failed, and what to do</h2>"
        + (groups or '<p class="empty">No failure for this client.</p>')
        + f"<h2>5. Latest connections</h2>{connections_table(recent, {**filters, 'client_ip': ip})}"
        + (client_tls(tls) if tls is not None else "")
    )  # fmt: skip
    return page(f"Client {ip} · mtls-doctor", body, state)


def cert_page(
    serial: str,
    d: Diagnosis,
    certs: Sequence[dict[str, Any]],
    clients: Sequence[dict[str, Any]],
    verdict: dict[str, Any] | None,
    filters: dict[str, str],
    state: DataState,
) -> str:
    ln = links(filters)
    rows = [[link(ln.client(c["client_ip"]), c["client_ip"]) if ln.client else esc(c["client_ip"]),
             esc(c["tls_verify_status"]), str(c["count"]), when(c["first_seen"]),
             when(c["last_seen"])] for c in clients]  # fmt: skip
    body = (
        f"<h1>Certificate {esc(serial)}</h1>"
        + headline(d)
        + "<h2>History</h2>" + timeline(d) + certs_table(certs, ln)
        + "<h2>Clients that presented it</h2>"
        + table(["Client", "Status", "Count", "First", "Last"], rows, numeric=(2,))
        + "<h2>Verdict</h2>" + _verdict_html(verdict)
    )  # fmt: skip
    return page(f"Certificate {serial} · mtls-doctor", body, state)


def _verdict_html(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return (
            '<p class="muted">No verdict: start the dashboard with --certs (a folder holding '
            "this certificate) and --trust-store to check it as the listener would.</p>"
        )
    findings = "".join(f"<li>{esc(f)}</li>" for f in verdict["findings"])
    return (
        f'<p><span class="badge">{esc(verdict["verdict"])}</span> for '
        f"<code>{esc(verdict['certificate_file'])}</code> checked at {esc(verdict['checked_at'])}"
        f"</p><ul>{findings}</ul>"
    )


def error_page(status: str, message: str) -> str:
    return page(status, f'<h1>{esc(status)}</h1><p id="error">{esc(message)}</p>', None)
