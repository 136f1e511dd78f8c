"""What the dashboard shows besides a diagnosis (whose numbers, and the cross-code tops,
come from a source's prepared tables: :mod:`mtls_doctor.diagnose.overview`): one page of
connections, the filter menus, one client's certificates, one certificate's history.

All values are bound parameters; the only text written into SQL is the relation, the
filter condition built by :class:`Filters` and sort columns checked against the field list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mtls_doctor.diagnose.overview import plain as plain
from mtls_doctor.diagnose.source import QueryTarget, Source
from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
from mtls_doctor.logs.api import export_row
from mtls_doctor.logs.query import Filters

SORTABLE: tuple[str, ...] = OUTPUT_COLUMNS

# Over a source's prepared PRESENTED table (diagnose/queries.py).
_CERTS_OF = """
SELECT leaf_client_cert_serial_number, leaf_client_cert_subject, min(not_before), max(not_after),
       tls_verify_status, sum(n) AS n, min(first_seen), max(last_seen)
FROM {rel}
GROUP BY leaf_client_cert_serial_number, leaf_client_cert_subject, tls_verify_status
ORDER BY max(last_seen) DESC, n DESC LIMIT 200"""

_STATUS_BY_CLIENT = """
SELECT client_ip, tls_verify_status, sum(n) AS n, min(first_seen), max(last_seen)
FROM {rel}
GROUP BY client_ip, tls_verify_status ORDER BY max(last_seen) DESC, n DESC LIMIT 200"""


def _presented(source: Source, template: str) -> list[tuple[Any, ...]]:
    relation = source.prepared.presented
    if relation is None:
        raise ValueError("this source was not read for the presented certificates")
    return source.fetch(template.format(rel=relation))


def fetch(
    target: QueryTarget,
    template: str,
    filters: Filters,
    extra: dict[str, Any] | None = None,
    **fmt: Any,
) -> list[tuple[Any, ...]]:
    """Run ``template`` over the rows ``filters`` select."""
    where, params = filters.where()
    sql = template.format(rel=target.relation, where=where, **fmt)
    # DuckDB refuses named parameters the text does not use.
    merged = {**params, **(extra or {})}
    return target.fetch(sql, {k: v for k, v in merged.items() if f"${k}" in sql})


def distinct(target: QueryTarget, column: str, limit: int = 200) -> list[Any]:
    """Values of one column, for the dashboard's filter menus."""
    if column not in SORTABLE:
        raise ValueError(column)
    rows = target.fetch(
        f"SELECT DISTINCT {column} FROM {target.relation} WHERE {column} IS NOT NULL "
        f"ORDER BY {column} LIMIT {int(limit)}"
    )
    return [r[0] for r in rows]


def _order(sort: str, descending: bool) -> str:
    if sort not in SORTABLE:
        raise ValueError(sort)
    direction = "DESC" if descending else "ASC"
    return f"{sort} {direction} NULLS LAST, timestamp {direction}, conn_trace_id"


@dataclass(frozen=True)
class ConnectionPage:
    """One page of matching connections, in the output contract of ``logs query``."""

    total: int
    page: int
    per_page: int
    sort: str
    descending: bool
    rows: tuple[dict[str, Any], ...]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "per_page": self.per_page,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "rows": list(self.rows),
        }


def connections_page(
    target: QueryTarget, filters: Filters, *, sort: str, descending: bool, page: int, per_page: int
) -> ConnectionPage:
    total = int(fetch(target, "SELECT count(*) FROM {rel} WHERE {where}", filters)[0][0])
    sql = "SELECT * FROM {rel} WHERE {where} ORDER BY {order} LIMIT $p_limit OFFSET $p_offset"
    cursor_rows = _dict_rows(
        target,
        sql,
        filters,
        {"p_limit": per_page, "p_offset": (page - 1) * per_page},
        order=_order(sort, descending),
    )
    return ConnectionPage(total, page, per_page, sort, descending, tuple(cursor_rows))


def iter_connections(
    target: QueryTarget, filters: Filters, *, sort: str, descending: bool
) -> Iterator[dict[str, Any]]:
    """Every matching row (the CSV export), in the chosen order."""
    sql = "SELECT * FROM {rel} WHERE {where} ORDER BY {order}"
    yield from _dict_rows(target, sql, filters, None, order=_order(sort, descending))


def _dict_rows(
    target: QueryTarget, sql: str, filters: Filters, extra: dict[str, Any] | None, **fmt: Any
) -> list[dict[str, Any]]:
    # Column names come from a probe with no rows: the relation's columns in order.
    names = [r[0] for r in target.fetch(f"DESCRIBE SELECT * FROM {target.relation}")]
    return [
        export_row(dict(zip(names, row, strict=True)))
        for row in fetch(target, sql, filters, extra, **fmt)
    ]


def certificates_of(source: Source) -> list[dict[str, Any]]:
    """Certificates the selection presented, one line per certificate and status."""
    return [
        {
            "serial": serial,
            "subject": subject,
            "not_before": nb,
            "not_after": na,
            "tls_verify_status": status,
            "count": int(n),
            "first_seen": a,
            "last_seen": b,
        }
        for serial, subject, nb, na, status, n, a, b in _presented(source, _CERTS_OF)
    ]


def clients_by_status(source: Source) -> list[dict[str, Any]]:
    """Who connected in the selection, one line per client and status."""
    return [
        {"client_ip": ip, "tls_verify_status": status, "count": int(n), "first_seen": a,
         "last_seen": b}
        for ip, status, n, a, b in _presented(source, _STATUS_BY_CLIENT)
    ]  # fmt: skip
