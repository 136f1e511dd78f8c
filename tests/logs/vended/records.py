"""Vended records made from legacy lines: the same connection, as JSON or a table would hold it."""

from __future__ import annotations

import json
from typing import Any

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from mtls_doctor.logs.vended.detect import split_plain

_INTEGERS = {"client_port", "listener_port"}


def record(line: str, *, typed: bool = False, drop_empty: bool = False) -> dict[str, Any]:
    """The vended record of a legacy ``line``: string values (``-`` kept), or with ``typed``
    numbers for numbers and null for ``-``; ``drop_empty`` leaves the empty keys out."""
    values = split_plain(line, " ")
    out: dict[str, Any] = {}
    for name, value in zip(VENDED_FIELD_NAMES, values, strict=False):
        typed_value: Any = value
        if typed:
            if value == "-":
                typed_value = None
            elif name in _INTEGERS:
                typed_value = int(value)
            elif name == "tls_handshake_latency":
                typed_value = float(value)
        if typed_value is None and drop_empty:
            continue
        out[name] = typed_value
    return out


def json_lines(lines: list[str], **options: Any) -> str:
    return "".join(json.dumps(record(line, **options)) + "\n" for line in lines)


def normalized(line: str) -> str:
    """A legacy line as the conversion writes it: 15 fields, ``-`` for the missing ones."""
    values = split_plain(line, " ")
    values += ["-"] * (len(VENDED_FIELD_NAMES) - len(values))
    values[7] = f'"{values[7]}"'
    return " ".join(values[: len(VENDED_FIELD_NAMES)])


def table_of(rows: list[dict[str, Any]]) -> Any:
    """A pyarrow table of ``rows`` whose columns are every key any row has (a missing key is
    null, as a JSON reader makes it)."""
    import pyarrow as pa

    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: [row.get(name) for row in rows] for name in names})
