"""Query-string parsing for the dashboard: the CLI's filters, paging and sorting.

Every malformed value becomes :class:`BadRequest` (HTTP 400) with a message. Filter values
go through the command line's own ``build_filters``, which the CLI hands to the app (library
code does not import the CLI package).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.logs.query import Filters
from mtls_doctor.web.queries import SORTABLE

FILTER_KEYS: tuple[str, ...] = (
    "client_ip", "since", "until", "status", "subject", "serial", "listener_port", "tls_protocol",
)  # fmt: skip
MAX_PER_PAGE = 500
FilterBuilder = Callable[[dict[str, Any], datetime], Filters]


class BadRequest(Exception):
    """A query parameter the dashboard cannot use."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_query(text: str) -> dict[str, str]:
    """The last value of each parameter; blank values count as absent."""
    try:
        parsed = parse_qs(text, keep_blank_values=False, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"malformed query string: {error}") from None
    return {k: v[-1].strip() for k, v in parsed.items() if v and v[-1].strip()}


def filter_values(params: dict[str, str]) -> dict[str, str]:
    return {k: params[k] for k in FILTER_KEYS if k in params}


def filters_from(params: dict[str, str], now: datetime, build_filters: FilterBuilder) -> Filters:
    values: dict[str, Any] = {k: params.get(k) for k in FILTER_KEYS}
    if values["listener_port"] is not None:
        values["listener_port"] = whole_number(params, "listener_port", 0, 65535)
    try:
        filters = build_filters(values, now)
        filters.where()  # validates the serial
    except MtlsDoctorError as error:
        raise BadRequest(error.message + (f" ({error.hint})" if error.hint else "")) from None
    except (ValueError, OverflowError) as error:  # a date past year 9999, say
        raise BadRequest(f"cannot use these filters: {error}") from None
    if filters.since and filters.until and filters.since >= filters.until:
        raise BadRequest("since must be earlier than until")
    return filters


@dataclass(frozen=True)
class Paging:
    sort: str = "timestamp"
    descending: bool = True
    page: int = 1
    per_page: int = 50


def whole_number(params: dict[str, str], name: str, low: int, high: int) -> int:
    """The one rule for numbers in a query: ASCII digits only, from ``low`` to ``high``.

    ``str.isdigit()`` is true for "²" (which int() then refuses) and int() refuses more than
    4,300 digits; checking the characters and the length first keeps both out.
    """
    text = params[name]
    significant = text.lstrip("0") or "0"
    # [0-9], not \d (any Unicode digit); leading zeros are harmless, and dropped before int().
    if (
        not re.fullmatch("[0-9]+", text)
        or len(significant) > len(str(high))
        or not low <= int(significant) <= high
    ):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BadRequest(f"{name} {shown!r} must be a whole number from {low} to {high}")
    return int(significant)


def _positive(params: dict[str, str], name: str, default: int, top: int) -> int:
    return default if params.get(name) is None else whole_number(params, name, 1, top)


def paging_from(params: dict[str, str]) -> Paging:
    sort = params.get("sort", "timestamp")
    if sort not in SORTABLE:
        raise BadRequest(f"cannot sort by {sort!r}; columns: {', '.join(SORTABLE)}")
    order = params.get("order", "desc").lower()
    if order not in ("asc", "desc"):
        raise BadRequest(f"order {order!r} must be asc or desc")
    return Paging(
        sort,
        order == "desc",
        _positive(params, "page", 1, 10**9),
        _positive(params, "per_page", 50, MAX_PER_PAGE),
    )
