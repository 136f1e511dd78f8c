"""Filters and the queries built from them, shared by the store and direct file reads.

Every value reaches DuckDB as a bound parameter; column names are checked against the field
list before they are written into SQL.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mtls_doctor.errors import UsageError
from mtls_doctor.knowledge.codes import (
    FAILED_PREFIX,
    NOT_TLS,
    STATUS_WORDS,
    SUCCESS,
    looks_like_code,
    nearest_statuses,
    normalize_code,
)
from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
from mtls_doctor.logs.parse import PARSED_COLUMNS
from mtls_doctor.timeutil import to_naive_utc

# Columns a user may count by or sort on.
GROUPABLE: tuple[str, ...] = tuple(dict.fromkeys((*PARSED_COLUMNS, "source_file")))

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalize_serial(text: str) -> str:
    """Serial as stored in ``serial_key``: upper-case hex, no separators, no leading zeros.

    Comparing these strings is comparing the numbers (spec §1.7: compare numerically).
    """
    value = text.strip().replace(":", "").replace(" ", "").upper()
    if value.startswith("0X"):
        value = value[2:]
    if not value or any(c not in "0123456789ABCDEF" for c in value):
        raise UsageError(
            f"serial {text!r} is not hexadecimal", hint="e.g. --serial FEF257372D5C14D4"
        )
    return value.lstrip("0") or "0"


def parse_client(text: str) -> IpNetwork:
    """An address (``203.0.113.9``) or a CIDR block (``203.0.113.0/24``, ``2001:db8::/32``)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an IP address or CIDR block",
            hint="e.g. --client-ip 203.0.113.9 or --client-ip 203.0.113.0/24",
        ) from None


def parse_status(text: str) -> tuple[str, str]:
    """``('verify_result', 'failed')`` or ``('tls_verify_status', 'Failed:ClientCertExpired')``.

    A value that is neither a status nor a documented code is a usage error naming the
    nearest valid values, so that a typo never reads as "no failures". A code the catalogue
    does not know yet (AWS adds codes) is taken as written when it has the shape of one and
    no near valid value, or when it is given as logged (``Failed:ClientCertSomethingNew``).
    """
    word = text.strip().lower()
    if word in STATUS_WORDS:
        return "verify_result", STATUS_WORDS[word]
    code = normalize_code(text)
    if code in (SUCCESS, NOT_TLS):
        return "tls_verify_status", code
    if code is not None:
        return "tls_verify_status", f"{FAILED_PREFIX}{code}"
    raw = text.strip()
    prefixed = raw.lower().startswith(FAILED_PREFIX.lower())
    raw = raw[len(FAILED_PREFIX) :] if prefixed else raw
    near = nearest_statuses(raw)
    if looks_like_code(raw) and (prefixed or not near):
        return "tls_verify_status", f"{FAILED_PREFIX}{raw}"
    guess = f"; nearest: {', '.join(near)}" if near else ""
    raise UsageError(
        f"--status {text!r} is neither a status nor a code{guess}",
        hint="Use success, failed, not-tls, or a code such as ClientCertExpired "
        "(mtls-doctor explain --list shows them all).",
    )


def check_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Validate column names typed by the user (they end up in SQL text)."""
    out = []
    for name in names:
        clean = name.strip()
        if clean not in GROUPABLE:
            raise UsageError(
                f"unknown field {clean!r}",
                hint="Fields: " + ", ".join(GROUPABLE),
            )
        out.append(clean)
    if not out:
        raise UsageError("no field given", hint="e.g. --count-by tls_verify_status")
    return tuple(out)


@dataclass(frozen=True)
class Filters:
    """What to select: every condition given must hold."""

    client: IpNetwork | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: tuple[str, str] | None = None
    subject: str | None = None
    serial: str | None = None
    listener_port: int | None = None
    tls_protocol: str | None = None
    # v6 CIDR blocks are matched against this list, which the caller fills from the data.
    client_candidates: tuple[str, ...] = field(default=())

    def needs_candidates(self) -> bool:
        """IPv6 is matched in Python against the distinct addresses of the data, since the
        log's IPv6 spelling (case, zero compression) is not documented (spec §1.7)."""
        return self.client is not None and self.client.version == 6

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL condition (``true`` when empty) and its parameters."""
        conds: list[str] = []
        params: dict[str, Any] = {}
        self._client_condition(conds, params)
        if self.since is not None:
            conds.append("timestamp >= $f_since")
            params["f_since"] = to_naive_utc(self.since)
        if self.until is not None:
            conds.append("timestamp < $f_until")
            params["f_until"] = to_naive_utc(self.until)
        if self.status is not None:
            column, value = self.status
            conds.append(f"{column} = $f_status")
            params["f_status"] = value
        if self.subject:
            conds.append("contains(lower(leaf_client_cert_subject), lower($f_subject))")
            params["f_subject"] = self.subject
        if self.serial:
            conds.append("serial_key = $f_serial")
            params["f_serial"] = normalize_serial(self.serial)
        if self.listener_port is not None:
            conds.append("listener_port = $f_lport")
            params["f_lport"] = self.listener_port
        if self.tls_protocol:
            conds.append("tls_protocol = $f_proto")
            params["f_proto"] = self.tls_protocol
        return (" AND ".join(conds) or "true"), params

    def _client_condition(self, conds: list[str], params: dict[str, Any]) -> None:
        net = self.client
        if net is None:
            return
        if net.version == 6:
            conds.append("list_contains($f_ips, client_ip)")
            params["f_ips"] = list(self.client_candidates)
        elif net.num_addresses == 1:
            conds.append("client_ip = $f_ip")
            params["f_ip"] = str(net.network_address)
        elif net.version == 4:
            # Dotted quads compared as integers, in SQL, so direct file reads stay one pass.
            conds.append(
                "(contains(client_ip, '.') AND NOT contains(client_ip, ':') AND "
                "(TRY_CAST(split_part(client_ip, '.', 1) AS BIGINT) * 16777216 + "
                "TRY_CAST(split_part(client_ip, '.', 2) AS BIGINT) * 65536 + "
                "TRY_CAST(split_part(client_ip, '.', 3) AS BIGINT) * 256 + "
                "TRY_CAST(split_part(client_ip, '.', 4) AS BIGINT)) BETWEEN $f_lo AND $f_hi)"
            )
            params["f_lo"] = int(net.network_address)
            params["f_hi"] = int(net.broadcast_address)

    def with_candidates(self, addresses: Sequence[str]) -> Filters:
        """A copy whose v6 block is resolved against ``addresses`` seen in the data."""
        net = self.client
        keep: list[str] = []
        for text in addresses:
            try:
                if net is not None and ipaddress.ip_address(text) in net:
                    keep.append(text)
            except ValueError:
                continue
        return Filters(**{**self.__dict__, "client_candidates": tuple(keep)})


def rows_sql(relation: str, where: str, *, limit: int | None, order: str = "timestamp") -> str:
    """Matching rows, oldest first (sorting also makes faulty files fail before any output)."""
    limit_sql = f" LIMIT {int(limit)}" if limit is not None else ""
    return f"SELECT * FROM {relation} WHERE {where} ORDER BY {order}{limit_sql}"


def count_sql(relation: str, where: str, columns: Sequence[str]) -> str:
    """Counts per value of ``columns``, most frequent first, like ``sort | uniq -c | sort -rn``."""
    cols = ", ".join(columns)
    return (
        f"SELECT {cols}, count(*) AS count FROM {relation} WHERE {where} "
        f"GROUP BY {cols} ORDER BY count DESC, {cols}"
    )


def output_row(values: dict[str, Any]) -> dict[str, Any]:
    """A row in the output contract: AWS field names plus the derived columns, in order."""
    return {name: values.get(name) for name in OUTPUT_COLUMNS}
