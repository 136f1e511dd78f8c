"""JSON lines (one record an object a line) as legacy lines, a block of lines at a time.

Fast path: pyarrow's JSON reader parses the block, :func:`.lines.legacy_bytes` converts it.
It gives up on a block where a column changes type (a number here, ``"-"`` there: the value
types AWS writes are UNCONFIRMED, spec §2.2), a record is not valid JSON (a truncated last
record), or a field holds an object or a list. Such a block is read record by record with
the standard library instead: each good record converts exactly as on the fast path, and
each bad one becomes a malformed line naming why, at its own line number.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES, VENDED_SYNONYMS
from mtls_doctor.logs.vended.lines import (
    VendedTypeError,
    legacy_bytes,
    legacy_lines,
    unreadable_line,
)

_NAMES = frozenset(VENDED_FIELD_NAMES) | frozenset(VENDED_SYNONYMS)
_TIMES = frozenset({"time", *(s for s, t in VENDED_SYNONYMS.items() if t == "time")})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_UTF8_RECORD = "bytes that are not UTF-8 in the record"


def _compiled() -> Any:
    """The C converter (``_jsonlines.c``), unless absent or switched off (MTLS_DOCTOR_PURE)."""
    if os.environ.get("MTLS_DOCTOR_PURE"):
        return None
    try:
        from mtls_doctor.logs.vended import _jsonlines
    except ImportError:  # built only where a C compiler was present at install time
        return None
    return _jsonlines


def legacy_block(block: bytes | memoryview) -> bytes:
    """The legacy lines of a block of JSON lines (one per line, each ended by a line end)."""
    compiled = _compiled()
    if compiled is not None:
        try:
            out, declined = compiled.convert(block)
        except ValueError:  # the C converter's own bound (never reached): the other way
            return arrow_block(bytes(block))
        return _splice(bytes(block), out, declined) if declined else out
    return arrow_block(bytes(block))


def _splice(block: bytes, out: bytes, declined: list[int]) -> bytes:
    """The C converter's lines, with those it declined converted here."""
    raw = block.split(b"\n")
    lines = out.split(b"\n")
    redone = by_record(b"\n".join(raw[i] for i in declined) + b"\n").split(b"\n")
    for index, line in zip(declined, redone, strict=False):
        lines[index] = line
    return b"\n".join(lines)


def arrow_block(block: bytes) -> bytes:
    """:func:`legacy_block` with pyarrow's JSON reader (the way without the C converter)."""
    import pyarrow as pa
    import pyarrow.json as pj

    lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    try:
        table = pj.read_json(pa.py_buffer(block))
        if table.num_rows == lines:
            return legacy_bytes(table)
        return _with_blank_lines(block, table)
    except (pa.ArrowInvalid, VendedTypeError):
        return by_record(block)


def _with_blank_lines(block: bytes, table: Any) -> bytes:
    """The reader skips blank lines: they are put back, as empty lines, where they were."""
    raw = block.split(b"\n")
    if block.endswith(b"\n"):
        raw.pop()
    blank = [not line.strip() for line in raw]
    if table.num_rows != blank.count(False):
        return by_record(block)
    converted = iter(legacy_lines(table).to_pylist())
    out = ["" if empty else next(converted) for empty in blank]
    return ("\n".join(out) + "\n").encode()


def by_record(block: bytes) -> bytes:
    """The slow path: each record parsed on its own (see the module docstring)."""
    import pyarrow as pa

    raw = block.split(b"\n")
    if block.endswith(b"\n"):
        raw.pop()
    rows: list[dict[str, str | None]] = []
    bad: dict[int, str] = {}
    for index, data in enumerate(raw):
        values, reason = _record(data)
        rows.append(values)
        if reason is not None:
            bad[index] = unreadable_line(reason, data.decode("utf-8", "replace"))
    names = [name for name in VENDED_FIELD_NAMES if any(name in row for row in rows)]
    table = pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})
    if not names:
        table = pa.table({"time": pa.nulls(len(rows), pa.string())})
    out = legacy_lines(table).to_pylist()
    for index, line in bad.items():
        out[index] = line
    return ("\n".join(out) + "\n").encode() if out else b""


def _record(data: bytes) -> tuple[dict[str, str | None], str | None]:
    """A record's fields as text (as the fast path writes them), or why it cannot be read."""
    if not data.strip():
        return {}, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {}, NOT_UTF8_RECORD
    try:
        record = json.loads(text)
    except ValueError as error:
        return {}, _json_reason(error, text)
    if not isinstance(record, dict):
        return {}, f"not a JSON object but {type(record).__name__}"
    values: dict[str, str | None] = {}
    synonyms: dict[str, str | None] = {}
    for key, value in record.items():
        if key not in _NAMES:
            continue
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "a list"
            return {}, f"{key} is {kind}, not a string or a number"
        name = VENDED_SYNONYMS.get(str(key)) or str(key)
        (values if key == name else synonyms)[name] = _text(name, value)
    for name, value in synonyms.items():  # "time" wins over its synonym unless it is empty
        if values.get(name) in (None, ""):
            values[name] = value if value not in (None, "") else values.get(name, value)
    return values, None


def _json_reason(error: ValueError, text: str) -> str:
    if isinstance(error, json.JSONDecodeError):
        if error.pos >= len(text.rstrip()):
            return "truncated JSON record (it ends early)"
        return f"not a JSON record: {error.msg} at column {error.colno}"
    return f"not a JSON record: {error}"


def _text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _TIMES and isinstance(value, int | float):
        return epoch_text(float(value))
    if isinstance(value, int):
        return str(value)
    return float_text(float(value))


def float_text(value: float) -> str:
    """As ``lines._float_text`` writes a float: six decimals at most, no exponent."""
    if value != value or abs(value) >= 1e12:  # NaN, or not a field's value
        return str(value)
    micros = round(abs(value) * 1_000_000)
    whole, rest = divmod(micros, 1_000_000)
    fraction = f"{rest:06d}".rstrip("0")
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def epoch_text(value: float) -> str | None:
    """As ``lines._epoch_text`` writes a number of seconds (ms, us) since the epoch."""
    if value != value or abs(value) >= 2.5e17:
        return None
    size = abs(value)
    micros = value * 1e6 if size < 1e11 else value * 1e3 if size < 1e14 else value
    try:
        at = _EPOCH + timedelta(microseconds=round(micros))
    except OverflowError:
        return None
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
