"""A diagnosis as one self-contained HTML page: styles, charts and data inline.

The page renders a :class:`Diagnosis` (and the cross-code tops of
:class:`mtls_doctor.diagnose.overview.Overview`); it computes no number of its own. Charts are
server-side SVG, so the file needs no script, prints as seen and opens offline. The
sections are the dashboard's too (:mod:`mtls_doctor.markup.sections`).
"""

from __future__ import annotations

from mtls_doctor import __version__
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.diagnose.overview import Overview
from mtls_doctor.diagnose.tls import TlsMix
from mtls_doctor.markup.kit import document, esc, when
from mtls_doctor.markup.sections import (
    Links,
    code_section,
    codes_table,
    errors_section,
    expiring_section,
    headline,
    timeline,
    top_tables,
    trust_section,
)
from mtls_doctor.markup.tls import tls_section


def _filters_text(d: Diagnosis) -> str:
    if not d.filters:
        return "all connections"
    return ", ".join(f"{k}={v}" for k, v in d.filters.items())


def render_html(
    d: Diagnosis,
    overview: Overview,
    *,
    title: str = "mTLS incident report",
    tls: TlsMix | None = None,
) -> str:
    """The whole report as one HTML document (no external resource); with ``tls`` (``report``
    unless ``--no-tls``), the TLS section after the certificates."""
    links = Links()
    sections = "".join(code_section(g, links) for g in d.failures)
    body = (
        f"<h1>{esc(title)}</h1>"
        f'<p class="muted">Generated {when(d.generated_at)} by mtls-doctor {esc(__version__)}'
        f" · selection: {esc(_filters_text(d))}</p>"
        + headline(d)
        + '<h2 id="timeline">Failures over time</h2>'
        + timeline(d)
        + '<h2 id="codes">Failures by code</h2>'
        + codes_table(d, links)
        + '<h2 id="who">Who is affected</h2>'
        + top_tables(overview, links)
        + sections
        + '<h2 id="expiring">Certificates expiring soon</h2>'
        + expiring_section(d)
        + (tls_section(tls) if tls is not None else "")
        + trust_section(d)
        + errors_section(d)
    )
    return document(title, body)
