"""The report's and the dashboard's cross-code tops: the failing clients and certificates
across every code, most failures first, asked of a source's prepared failure groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.source import Source
from mtls_doctor.timeutil import iso_z

TOP_N = 10

_TOP_CLIENTS = """
SELECT client_ip, {n} AS n, list(DISTINCT error_code ORDER BY error_code), {first}, {last}
FROM {rel} WHERE {where} AND verify_result = 'failed'
GROUP BY client_ip ORDER BY n DESC, client_ip LIMIT {limit}"""

_TOP_CERTS = """
SELECT leaf_client_cert_serial_number, leaf_client_cert_subject, max(not_after), {n} AS n,
       count(DISTINCT client_ip), list(DISTINCT error_code ORDER BY error_code)
FROM {rel} WHERE {where} AND verify_result = 'failed'
GROUP BY leaf_client_cert_serial_number, leaf_client_cert_subject
ORDER BY n DESC, leaf_client_cert_serial_number NULLS LAST LIMIT {limit}"""


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO 8601 ``Z`` strings, for JSON."""
    return {k: iso_z(v) if isinstance(v, datetime) else v for k, v in values.items()}


def _codes(values: list[str | None] | None) -> list[str]:
    return [v if v else "(empty)" for v in values or []]


@dataclass(frozen=True)
class Overview:
    """The failing clients and certificates across every code, most failures first."""

    top_clients: tuple[dict[str, Any], ...]
    top_certificates: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "top_clients": [plain(c) for c in self.top_clients],
            "top_certificates": [plain(c) for c in self.top_certificates],
        }


def _ask(source: Source, template: str, limit: int) -> list[tuple[Any, ...]]:
    prepared = source.prepared
    sql = template.format(
        rel=prepared.failures, where=prepared.where, limit=int(limit), **prepared.shape
    )
    params = {k: v for k, v in prepared.params.items() if f"${k}" in sql}
    return source.fetch(sql, params)


def overview(source: Source, limit: int = TOP_N) -> Overview:
    """The tops of the selection ``source`` was read for."""
    clients = tuple(
        {"client_ip": ip, "count": int(n), "codes": _codes(codes), "first_seen": a, "last_seen": b}
        for ip, n, codes, a, b in _ask(source, _TOP_CLIENTS, limit)
    )
    certs = tuple(
        {
            "serial": serial,
            "subject": subject,
            "not_after": not_after,
            "count": int(n),
            "clients": int(ncl),
            "codes": _codes(codes),
        }
        for serial, subject, not_after, n, ncl, codes in _ask(source, _TOP_CERTS, limit)
    )
    return Overview(clients, certs)
