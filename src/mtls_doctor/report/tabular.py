"""Rows and counts as text tables, JSON, JSON lines or CSV (strings; the CLI writes them)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

TABLE_WIDTH_LIMIT = 100


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned table (no colour: it must survive pipes and tickets)."""
    cells = [[_cell(row.get(c))[:TABLE_WIDTH_LIMIT] for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
    return "\n".join(lines) + "\n"


def iter_jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, default=str) + "\n"


def iter_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        yield buffer.getvalue()


def iter_json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array written incrementally, so a large result is not held twice."""
    first = True
    yield "["
    for row in rows:
        yield ("\n  " if first else ",\n  ") + json.dumps(row, default=str)
        first = False
    yield "\n]\n" if not first else "]\n"
