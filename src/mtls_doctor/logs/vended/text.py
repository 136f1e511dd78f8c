"""W3C and delimited plain logs as legacy lines, a block of lines at a time.

- Delimited plain (spec §2.3: the ``\\t`` and ``,`` delimiters): the fields in the legacy
  order (with ``time`` first), 12 at least; any past the 15th are ignored.
- W3C: ``#`` lines are directives; the ``#Fields:`` line names the columns of the lines
  that follow (a later one renames them). The fields are separated by the delimiter of the
  first data line (space, tab or comma), and a line must have one value per name.

A field may be double-quoted (the subject: a DN holds spaces and commas), with ``""`` for a
quote inside. UNCONFIRMED (spec §2.2): how AWS quotes the subject in these formats.
Each line is split by one RE2 pattern over the whole block (pyarrow), so no Python runs per
line; a line the pattern refuses becomes a malformed line naming why.
"""

from __future__ import annotations

import re
from typing import Any

from mtls_doctor.knowledge.fields import MIN_FIELDS, VENDED_FIELD_NAMES, VENDED_SYNONYMS
from mtls_doctor.logs.vended.detect import W3C, Detected, split_names
from mtls_doctor.logs.vended.lines import ended_bytes, legacy_lines, unreadable_lines

_FIELDS_DIRECTIVE = "#Fields:"


def _pattern(count: int, delimiter: str, optional_from: int | None) -> str:
    """RE2 for a line of ``count`` fields, each quoted or not (those from ``optional_from``
    on may be absent; then any further fields are allowed, and dropped)."""
    d = re.escape(delimiter)
    value = f'"(?:[^"]|"")*"|[^{d}]*'
    parts = [f"(?P<f0>{value})"]
    for i in range(1, count):
        field = f"{d}(?P<f{i}>{value})"
        parts.append(field if optional_from is None or i < optional_from else f"(?:{field})?")
    tail = f"(?:{d}.*)?" if optional_from is not None else ""
    return "^" + "".join(parts) + tail + "$"


class Converter:
    """Converts the blocks of one W3C or delimited file, in order (W3C names carry over)."""

    def __init__(self, found: Detected) -> None:
        self.found = found
        self.w3c = found.format == W3C
        self.delimiter = found.delimiter
        self.names: tuple[str, ...] = () if self.w3c else VENDED_FIELD_NAMES

    def legacy_block(self, block: bytes | memoryview) -> bytes:
        """The legacy lines of ``block`` (one per line, each ended by a line end)."""
        block = bytes(block)
        if not self.w3c or b"#Fields:" not in block:
            return self._convert(block)
        # A #Fields: line changes the names for the lines after it: convert in parts.
        out: list[bytes] = []
        start = 0
        for match in re.finditer(rb"(?m)^#Fields:[^\n]*(\n|$)", block):
            out.append(self._convert(block[start : match.start()]))
            named = match.group(0)[len(_FIELDS_DIRECTIVE) :].decode("utf-8", "replace")
            self.names = tuple(VENDED_SYNONYMS.get(n, n) for n in split_names(named))
            out.append(b"\n")
            start = match.end()
        out.append(self._convert(block[start:]))
        return b"".join(out)

    def _convert(self, block: bytes) -> bytes:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not block:
            return b""
        lines = _lines(block)
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0)
        if self.w3c:
            blank = pc.or_(blank, pc.starts_with(lines, "#"))
        if not self.names:  # W3C data before any #Fields: line
            reason = "a W3C line before the #Fields: line that names its columns"
            return ended_bytes(pc.if_else(blank, "", unreadable_lines(reason, lines)))
        count = len(self.names)
        optional = None if self.w3c else MIN_FIELDS
        parts = pc.extract_regex(lines, _pattern(count, self.delimiter, optional))
        columns = {
            name: _unquoted(pc.struct_field(parts, [index]))
            for index, name in enumerate(self.names)
            if name not in self.names[:index]  # a name given twice: its first column
        }
        converted = legacy_lines(pa.table(columns))
        reason = (
            f"not {count} fields separated by {_say(self.delimiter)}, as #Fields: names them"
            if self.w3c
            else f"fewer than {MIN_FIELDS} fields separated by {_say(self.delimiter)}"
        )
        bad = pc.and_(pc.invert(pc.is_valid(parts)), pc.invert(blank))
        out = pc.if_else(blank, "", pc.if_else(bad, unreadable_lines(reason, lines), converted))
        return ended_bytes(out)


def _say(delimiter: str) -> str:
    return {" ": "spaces", "\t": "tabs", ",": "commas"}[delimiter]


def _lines(block: bytes) -> Any:
    """The block's lines as a string array (without line ends; bad UTF-8 replaced)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if block.endswith(b"\n"):
        block = block[:-1]
    try:
        text = pa.array([block], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        text = pa.array([block.decode("utf-8", "replace")], pa.string())
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    return pc.utf8_rtrim(lines, "\r")


def _unquoted(values: Any) -> Any:
    import pyarrow.compute as pc

    quoted = pc.and_(
        pc.and_(pc.starts_with(values, '"'), pc.ends_with(values, '"')),
        pc.greater_equal(pc.utf8_length(values), 2),
    )
    inner = pc.replace_substring(pc.utf8_slice_codeunits(values, 1, -1), '""', '"')
    return pc.if_else(quoted, inner, values)
