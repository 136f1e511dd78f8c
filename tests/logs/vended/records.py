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


def _delimited(lines: list[str], delimiter: str, names: tuple[str, ...] | None = None) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quotechar='"', lineterminator="\n")
    for text in lines:
        rec = record(text)
        writer.writerow([rec.get(n, "-") for n in (names or VENDED_FIELD_NAMES)])
    return out.getvalue()


# W3C columns in another order than the legacy one: the #Fields: line decides.
W3C_NAMES = tuple(reversed(VENDED_FIELD_NAMES))


def write_format(folder: Any, lines: list[str], fmt: str, name: str = "part-0001") -> Any:
    """``lines`` (legacy) written in format ``fmt`` under ``folder``, named as vended objects
    might be (not conn_log_...): its path."""
    import gzip
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "legacy": lambda: "".join(x + "\n" for x in lines),
        "json": lambda: json_lines(lines),
        "json-typed": lambda: json_lines(lines, typed=True),
        "json-missing": lambda: json_lines(lines, typed=True, drop_empty=True),
        "tab": lambda: _delimited(lines, "\t"),
        "comma": lambda: _delimited(lines, ","),
        "w3c": lambda: (
            "#Version: 1.0\n#Fields: "
            + " ".join(W3C_NAMES)
            + "\n"
            + _delimited(lines, " ", W3C_NAMES)
        ),
        "w3c-tab": lambda: (
            "#Version: 1.0\n#Fields: "
            + " ".join(W3C_NAMES)
            + "\n"
            + _delimited(lines, "\t", W3C_NAMES)
        ),
        "w3c-comma": lambda: (
            "#Version: 1.0\n#Fields: "
            + ",".join(W3C_NAMES)
            + "\n"
            + _delimited(lines, ",", W3C_NAMES)
        ),
    }
    base, packed = fmt.removesuffix(".gz"), fmt.endswith(".gz")
    data = texts[base]().encode()
    path = folder / (name + (".gz" if packed else ""))
    path.write_bytes(gzip.compress(data) if packed else data)
    return path
