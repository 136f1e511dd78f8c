"""Vended connection-log records as legacy connection-log lines: the one conversion.

Every vended input (JSON lines, W3C, delimited plain, Parquet, CloudWatch Logs events) is
read into a table of the vended columns, which :func:`legacy_lines` turns into the
equivalent legacy lines, one per row, vectorised with pyarrow. The compiled scanner, the SQL
parser, routing, ingest and malformed-line reporting then read those lines as they read any
log: there is one engine, and a row's line number is its record's.

The contract (stable; ``parquet.py`` and ``aws/cloudwatch.py`` call it):

- :func:`legacy_lines` ``(table) -> pa.StringArray``: one line per row, in row order, without
  a line end. ``table`` is a ``pa.Table`` or ``pa.RecordBatch`` whose columns are named as in
  :data:`~mtls_doctor.knowledge.fields.VENDED_FIELD_NAMES` (``timestamp`` is a synonym of
  ``time``; other columns are ignored; a missing column is empty). Values may be strings,
  integers, floats, timestamps (UTC is assumed for naive ones) or dictionary-encoded strings;
  null, ``""`` and ``"-"`` are all an empty value (``-``). The subject is the DN itself, as
  JSON and Parquet give it: it is quoted here, and a ``"`` in it becomes ``\\22`` (RFC 4514's
  escape of the same character), since a legacy line cannot hold one. A row with neither
  ``tls_verify_status`` nor ``client_ip`` (an access-log or health-check record) gives ``""``,
  which the readers skip without shifting the numbering. Numbers in time are seconds since the
  epoch (milliseconds or microseconds when too large to be seconds). UNCONFIRMED (spec §2.2):
  which value types AWS writes.
- :func:`legacy_bytes` ``(table) -> bytes``: the same lines, each ended by ``\\n``: a piece of a
  converting feed's stream.
- :func:`unreadable_line` ``(reason, record="") -> str``: the line that stands for a record
  that cannot be read (truncated JSON, a value of the wrong type, a short row): the readers
  report it as a malformed line whose message is ``reason``, at that record's line number.
  :func:`unreadable_lines` ``(reason, records) -> pa.StringArray`` does it for an array.
- :func:`ended_bytes` ``(lines) -> bytes``: a string array of lines, each ended by ``\\n``.

Raises :class:`VendedTypeError` for a column whose type cannot be a field (a list, a struct).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtls_doctor.knowledge.fields import (
    SUBJECT_POSITION,
    VENDED_FIELD_NAMES,
    VENDED_KEY_FIELDS,
    VENDED_SYNONYMS,
)
from mtls_doctor.logs.parse import UNREADABLE_MARK

if TYPE_CHECKING:
    import pyarrow as pa

_SUBJECT = VENDED_FIELD_NAMES[SUBJECT_POSITION - 1]
_TIME = VENDED_FIELD_NAMES[0]
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # with microseconds: the values are cast to "us" first
_SCALE = 1_000_000  # float values are written with up to six decimals


class VendedTypeError(ValueError):
    """A column holds values that cannot stand for a field (nested, binary)."""


def unreadable_line(reason: str, record: str = "") -> str:
    """The line standing for a record that cannot be read (see the module docstring)."""
    # Trailing spaces go: the parser trims them, and the line is found again by its text.
    clean = "".join(" " if c in "\r\n\x01\x02" else c for c in record[:200]).rstrip(" ")
    return (
        UNREADABLE_MARK + reason.replace("\n", " ").replace("\x02", " ") + UNREADABLE_MARK + clean
    )


def legacy_lines(table: pa.Table | pa.RecordBatch) -> pa.StringArray:
    """One legacy line per row of ``table`` (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = table.num_rows
    names = list(table.schema.names)
    texts = [field_text(table, name, names, rows) for name in VENDED_FIELD_NAMES]
    position = SUBJECT_POSITION - 1
    texts[position] = _quoted(texts[position])
    # Nulls filled per column, then joined: several times faster than the join's own
    # null replacement, and a column without nulls is not copied.
    filled = [text.fill_null("-") if text.null_count else text for text in texts]
    line = pc.binary_join_element_wise(*filled, " ")
    keep = _is_connection(texts, rows)
    if keep is not None:
        line = pc.if_else(keep, line, pa.scalar("", pa.string()))
    line = _combined(line)
    return _one_line_each(line)


def legacy_bytes(table: pa.Table | pa.RecordBatch) -> bytes:
    """The lines of :func:`legacy_lines`, each ended by ``\\n``, as one piece of bytes."""
    return ended_bytes(legacy_lines(table))


def ended_bytes(lines: pa.StringArray | pa.ChunkedArray) -> bytes:
    """``lines`` (no line ends in them), each ended by ``\\n``, as one piece of bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(lines) == 0:
        return b""
    ended = pc.binary_join_element_wise(lines, pa.scalar("", pa.string()), "\n")
    ended = _combined(ended)
    offsets, data = ended.buffers()[1], ended.buffers()[2]
    if data is None:
        return b"\n" * len(ended)
    first, last = _offset(offsets, ended.offset), _offset(offsets, ended.offset + len(ended))
    raw: bytes = data.to_pybytes()
    return raw[first:last] if first or last != len(raw) else raw


def unreadable_lines(reason: str, records: pa.StringArray) -> pa.StringArray:
    """:func:`unreadable_line` of each of ``records`` (vectorised)."""
    import pyarrow.compute as pc

    head = pc.replace_substring_regex(
        pc.utf8_slice_codeunits(records, 0, 200), "[\r\n\x01\x02]", " "
    )
    head = pc.utf8_rtrim(head, " ")
    return _combined(pc.binary_join_element_wise(unreadable_line(reason), head, ""))


def _offset(offsets: pa.Buffer, index: int) -> int:
    return int.from_bytes(memoryview(offsets)[4 * index : 4 * index + 4], "little", signed=True)


def _combined(array: Any) -> pa.StringArray:
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _one_line_each(line: pa.StringArray) -> pa.StringArray:
    """A value holding a line end would split its record in two: write it as ``\\0A``/``\\0D``
    (RFC 4514's escapes; such a line is malformed unless the character was in the DN)."""
    import pyarrow.compute as pc

    data = line.buffers()[2]
    # A search of a copy of the whole buffer (memchr) costs half the regex over each line.
    raw = b"" if data is None else data.to_pybytes()
    if b"\n" not in raw and b"\r" not in raw:
        return line
    line = pc.replace_substring(line, "\n", "\\0A")
    return _combined(pc.replace_substring(line, "\r", "\\0D"))


def field_text(
    table: pa.Table | pa.RecordBatch, name: str, names: list[str], rows: int
) -> pa.Array:
    """The column ``name`` as text: null where the value is empty (null, ``""``, ``-``).
    Where it is null, its synonym's value stands (``time`` wins over ``timestamp``)."""
    import pyarrow.compute as pc

    text = _one_field_text(table, name, names, rows)
    for synonym, target in VENDED_SYNONYMS.items():
        if target == name and synonym in names and text.null_count:
            other = _one_field_text(table, synonym, names, rows)
            text = other if name not in names else pc.coalesce(text, other)
    return text


def _one_field_text(
    table: pa.Table | pa.RecordBatch, name: str, names: list[str], rows: int
) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if name not in names:
        return pa.nulls(rows, pa.string())
    column = _combined(table.column(name))
    text = as_text(column, VENDED_SYNONYMS.get(name, name))
    if pa.types.is_null(text.type):
        return pa.nulls(rows, pa.string())
    if text.null_count == len(text):
        return text
    empty = pc.equal(pc.binary_length(text), 0)
    if not pc.any(empty).as_py():  # most columns: no copy
        return text
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def as_text(column: Any, name: str) -> Any:
    """The column of field ``name`` as the text its legacy line holds (strings as they are)
    (raises :class:`VendedTypeError` for a type no field can have)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        return as_text(column.cast(kind.value_type), name)
    if pa.types.is_null(kind):
        return column
    if pa.types.is_string(kind):
        return column
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if pa.types.is_timestamp(kind):
        return pc.strftime(column.cast(pa.timestamp("us")), _TIME_FORMAT)
    if name == _TIME and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return _epoch_text(column)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.string())
    if pa.types.is_floating(kind):
        return _float_text(column)
    raise VendedTypeError(f"{name} holds {kind} values, not strings or numbers")


def _float_text(column: Any) -> Any:
    """``0.005`` rather than ``0.005000`` or ``5e-03``: six decimals at most, no exponent.
    A value that is not finite, or too large to be a field, is written as it casts (``inf``):
    the line is then malformed, as it should be."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.cast(pa.float64())
    # Fast path: the shortest text of a double is the same when it has no exponent and at
    # most six decimals (and is small enough for its microseconds to be exact): a quarter of
    # the cost of the arithmetic below, which only the other values then pay.
    text = values.cast(pa.string())
    odd = pc.or_(
        pc.match_substring_regex(text, r"[eEn]|\.[0-9]{7}|^-0$"),
        pc.greater_equal(pc.abs(values), 1e9),
    )
    if not pc.any(odd).as_py():
        return text
    return pc.if_else(odd, _float_arithmetic(values), text)


def _float_arithmetic(values: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    fits = pc.and_(pc.is_finite(values), pc.less(pc.abs(values), 1e12))
    scaled = pc.round(pc.multiply(pc.abs(pc.if_else(fits, values, 0.0)), float(_SCALE)))
    micros = scaled.cast(pa.int64())
    whole = pc.divide(micros, _SCALE)  # integer division on int64
    rest = pc.subtract(micros, pc.multiply(whole, _SCALE)).cast(pa.string())
    fraction = pc.replace_substring_regex(pc.utf8_lpad(rest, 6, "0"), "0+$", "")
    sign = pc.if_else(pc.less(values, 0), "-", "")
    text = pc.binary_join_element_wise(sign, whole.cast(pa.string()), ".", fraction, "")
    text = pc.replace_substring_regex(text, r"\.$", "")
    return pc.if_else(pc.fill_null(fits, True), text, values.cast(pa.string()))


def _epoch_text(column: Any) -> Any:
    """Seconds (or milliseconds, microseconds) since the epoch, as the legacy time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column.cast(pa.float64())
    # Not a time (NaN, beyond year 9999 in microseconds): empty, so the line is malformed.
    sane = pc.and_(pc.is_finite(values), pc.less(pc.abs(values), 2.5e17))
    values = pc.if_else(sane, values, pa.scalar(None, pa.float64()))
    size = pc.abs(values)
    micros = pc.if_else(
        pc.less(size, 1e11),
        pc.multiply(values, 1e6),
        pc.if_else(pc.less(size, 1e14), pc.multiply(values, 1e3), values),
    )
    stamps = pc.round(micros).cast(pa.int64()).cast(pa.timestamp("us"))
    return pc.strftime(stamps, _TIME_FORMAT)


def _quoted(subject: pa.Array) -> pa.Array:
    """The DN in double quotes; a ``"`` in it (bare or RFC 4514's ``\\"``) as ``\\22``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if subject.null_count == len(subject):
        return pa.nulls(len(subject), pa.string()).fill_null('"-"')
    if pc.any(pc.match_substring(subject, '"')).as_py():
        subject = pc.replace_substring_regex(subject, r'\\?"', r"\\22")
    return pc.binary_join_element_wise(
        '"', subject, '"', "", null_handling="replace", null_replacement="-"
    )


def _is_connection(texts: list[pa.Array], rows: int) -> pa.Array | None:
    """Where a row is a connection record (None: every row is)."""
    import pyarrow.compute as pc

    keys = [texts[VENDED_FIELD_NAMES.index(name)] for name in VENDED_KEY_FIELDS]
    if any(key.null_count == 0 for key in keys):
        return None
    present = pc.is_valid(keys[0])
    for key in keys[1:]:
        present = pc.or_(present, pc.is_valid(key))
    return present
