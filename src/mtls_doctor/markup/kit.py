"""Small HTML builders: every value that reaches a page goes through :func:`esc`."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from mtls_doctor.markup.style import CSS


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute; ``None`` shows as a dash."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return html.escape(f"{value:%Y-%m-%d %H:%M:%S}Z")
    return html.escape(str(value), quote=True)


def when(value: datetime | None) -> str:
    return esc(value)


def pct(share: float) -> str:
    return f"{share:.1%}"


def link(href: str, text: Any) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def path_part(value: str) -> str:
    """One URL path segment (an IP, a serial, a code)."""
    return quote(value, safe="")


def query(params: dict[str, Any]) -> str:
    """``?a=1&b=2`` from the non-empty values, or an empty string."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    empty: str = "Nothing here.",
    css: str = "",
) -> str:
    """A table of cells that are already HTML (escape values before passing them)."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


BAR_PX = 120  # the longest bar


def bar_width(count: int, peak: int) -> int:
    """Pixels for ``count`` against ``peak``: proportional, and at least 1 for any count."""
    if peak <= 0 or count <= 0:
        return 0
    return max(1, round(BAR_PX * min(count, peak) / peak))


def bar_cell(count: int, peak: int) -> str:
    """A count with a proportional bar drawn by CSS (prints, needs no script).

    The width is in pixels: a percentage would be of the table cell, whose width follows
    the page, and the cap on it then drew every bar of a wide column alike."""
    return (
        f'<span class="barcell"><span class="bar" style="width:{bar_width(count, peak)}px">'
        f"</span><span>{count}</span></span>"
    )


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline numbers: (label, value, css class)."""
    parts = [
        f'<div class="card {esc(cls)}"><div class="value">{esc(value)}</div>'
        f'<div class="label">{esc(label)}</div></div>'
        for label, value, cls in items
    ]
    return f'<div class="cards">{"".join(parts)}</div>'


def document(title: str, body: str, *, nav: str = "", script: str = "") -> str:
    """A whole page: inline styles, no external resource of any kind."""
    tail = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing on a page may load from elsewhere: the report is mailed around.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; connect-src 'self'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{nav}<main>{body}</main>{tail}</body></html>\n"
    )
