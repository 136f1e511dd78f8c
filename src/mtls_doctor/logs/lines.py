"""Where DuckDB's ``read_csv`` ends a line and what it does with one over the limit: the
rules both readers follow, so that they report the same lines the same way."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mtls_doctor.logs.parse import MAX_LINE_BYTES

_LINE_END = re.compile(r"(\r\n|\r|\n)")  # where read_csv ends a line


def too_long(line: str) -> bool:
    return len(line) > MAX_LINE_BYTES // 4 and len(line.encode()) > MAX_LINE_BYTES


def cut_long_line(line: str) -> str:
    """What is left of a line over :data:`MAX_LINE_BYTES`: enough to recognise it."""
    return line[:200] + " [cut: the line was longer than the limit]"


def shorten_long_lines(text: str) -> tuple[str, int]:
    if not too_long(text):
        return text, 0
    parts = _LINE_END.split(text)  # lines at even indices, their line ends between
    long_ones = [i for i in range(0, len(parts), 2) if too_long(parts[i])]
    for index in long_ones:
        parts[index] = cut_long_line(parts[index])
    return ("".join(parts) if long_ones else text), len(long_ones)


def long_lines_fault(count: int) -> str:
    return f"{count} line(s) longer than {MAX_LINE_BYTES} bytes (cut short)"


def duckdb_parts(physical: str, first: bool) -> list[tuple[str, str | None]]:
    """The ``(line, rest)`` rows ``read_csv`` makes of one physical line (no newline).

    ``read_csv`` also ends a line at a lone CR, drops a UTF-8 BOM at the start of a file,
    and puts whatever follows a U+0001 (our delimiter) in ``rest``; a line over
    :data:`MAX_LINE_BYTES` is cut short, as both readers do.
    """
    if first and physical.startswith("\ufeff"):
        physical = physical[1:]
    rows: list[tuple[str, str | None]] = []
    for part in physical.split("\r"):
        if too_long(part):  # as both readers cut it (see MAX_LINE_BYTES)
            part = cut_long_line(part)
        head, sep, tail = part.partition("\x01")
        rows.append((head, tail.split("\x01")[0] if sep else None))
    return rows


def duckdb_view(physical: str, first: bool) -> list[str]:
    """The lines DuckDB makes of one physical line, as the parser sees them.

    The parser trims trailing spaces and marks a line that had a U+0001 with one U+0001
    at its end (see :func:`duckdb_parts` and ``parse.parse_sql``).
    """
    return [
        head.rstrip(" ") + ("" if rest is None else "\x01")
        for head, rest in duckdb_parts(physical, first)
    ]


def has_long_line(pieces: Iterable[bytes], limit: int = MAX_LINE_BYTES) -> bool:
    """True when a line of the stream ``pieces`` (ended by LF or CR, or by the end) is over
    ``limit`` bytes.

    Strided: from each line end it looks for the last line end within the next ``limit + 1``
    bytes, so it makes about one call per ``limit`` bytes of ordinary lines.
    """
    run = 0  # bytes of the current line in earlier pieces
    for data in pieces:
        start, size = 0, len(data)
        while size - start > limit - run:
            stop = start + limit - run + 1
            end = max(data.rfind(b"\n", start, stop), data.rfind(b"\r", start, stop))
            if end < 0:
                return True
            start, run = end + 1, 0
        if start < size:  # the piece ends inside a line: carry its length
            end = max(data.rfind(b"\n", start), data.rfind(b"\r", start))
            run = size - end - 1 if end >= 0 else run + size - start
    return False
