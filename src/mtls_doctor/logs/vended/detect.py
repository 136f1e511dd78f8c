"""Tell a log's format by its first bytes, never by its name.

Vended connection logs (spec §2.3) come as JSON lines, W3C, plain (legacy spacing or the
``\\t`` and ``,`` delimiters) or Parquet, gzipped or not, under object names that are
UNCONFIRMED (spec §2.5, §2.6): the content decides. :func:`sniff` reads the head of a file
(gzip is inflated first), :func:`detect_file` a file on disk (a Parquet file's footer too).

``Detected.connection`` says whether the head shows a connection-log record (True), another
kind of record, such as an access-log one (False), or cannot tell (None): a folder walk reads a
file with an unknown name when it is True.
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from mtls_doctor.knowledge.fields import (
    SUBJECT_POSITION,
    VENDED_FIELD_NAMES,
    VENDED_KEY_FIELDS,
    VENDED_SYNONYMS,
)
from mtls_doctor.logs.parse import LINE_RE

LEGACY = "legacy"
JSONL = "jsonl"
PARQUET = "parquet"
W3C = "w3c"
DELIMITED = "delimited"  # plain with "\t" or "," between the fields
FORMATS = (LEGACY, JSONL, PARQUET, W3C, DELIMITED)

SNIFF_BYTES = 64 * 1024  # of the (inflated) head: a few hundred records
QUICK_BYTES = 4 * 1024  # enough for the first legacy lines (under 1 KiB each)
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DELIMITERS = (" ", "\t", ",")
_LINE = re.compile(LINE_RE)
_KEYS = frozenset(VENDED_KEY_FIELDS)
_PROBE_LINES = 20  # whole lines of the head looked at to tell legacy from delimited plain


@dataclass(frozen=True)
class Detected:
    """What a log's head says: its format, gzip or not, how its fields are separated."""

    format: str
    gzip: bool = False
    delimiter: str = " "
    fields: tuple[str, ...] | None = None  # W3C: the names of its ``#Fields:`` line
    connection: bool | None = None

    @property
    def vended(self) -> bool:
        """True when the log must be converted to legacy lines to be read."""
        return self.format != LEGACY


def inflate_head(head: bytes, limit: int = SNIFF_BYTES) -> bytes:
    """Up to ``limit`` bytes of what a gzip head inflates to (as far as it goes)."""
    inflater = zlib.decompressobj(31)
    try:
        return inflater.decompress(head, limit)
    except zlib.error:
        return b""


def sniff(head: bytes) -> Detected:
    """The format of a log whose first bytes (raw, gzip or not) are ``head``."""
    if head.startswith(PARQUET_MAGIC):
        return Detected(PARQUET)
    # Most logs are legacy, told by their first good line: a short head says so for a
    # fraction of the inflating. Any other answer is taken from the whole head.
    quick = _sniff(head, QUICK_BYTES)
    if quick.format == LEGACY and quick.connection:
        return quick
    return _sniff(head, SNIFF_BYTES)


def _sniff(head: bytes, limit: int) -> Detected:
    packed = head.startswith(GZIP_MAGIC)
    text = (inflate_head(head, limit) if packed else head[:limit]).decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    complete = len(lines) - (0 if text.endswith(("\n", "\r")) else 1)
    body = [(i, line) for i, line in enumerate(lines) if line.strip()]
    if not body:
        return Detected(LEGACY, packed)
    index, first = body[0]
    if first.lstrip().startswith("{"):
        whole = index < complete
        return Detected(JSONL, packed, connection=_json_connection(first) if whole else None)
    if first.startswith("#") and _directives(body):
        return _w3c(packed, [line for _, line in body], complete - index)
    return _plain(packed, body, complete)


_DIRECTIVE = re.compile(r"#[A-Za-z][A-Za-z-]*:")  # #Version:, #Fields:, #Date:, #Remark: ...


def _directives(body: list[tuple[int, str]]) -> bool:
    """Whether the ``#`` lines that open the head hold a W3C directive. A bare ``#`` or
    ``#garbage`` is no sign of W3C: a legacy file whose first line is damaged that way
    stays legacy (that line malformed) instead of every later line being W3C data before
    its #Fields: line."""
    for _, line in body:
        if not line.startswith("#"):
            return False
        if _DIRECTIVE.match(line):
            return True
    return False


def detect_file(path: Path) -> Detected:
    """The format of the file at ``path`` (raises OSError when it cannot be read)."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    found = sniff(head)
    if found.format == PARQUET:
        return Detected(PARQUET, connection=_parquet_connection(path))
    return found


def _plain(packed: bool, body: list[tuple[int, str]], complete: int) -> Detected:
    """Legacy or delimited plain: told by the first whole line that reads as a connection
    with some delimiter. A line that reads with none (garbage) says nothing: a legacy file
    whose first line is damaged (say, a tab and a quote) stays legacy, its bad line reported
    as malformed, rather than every later line being split at tabs."""
    for index, line in body[:_PROBE_LINES]:
        if index >= complete:
            break
        for delimiter in _delimiters(line):
            if _plain_connection(line, delimiter, VENDED_FIELD_NAMES):
                kind = LEGACY if delimiter == " " else DELIMITED
                return Detected(kind, packed, delimiter, connection=True)
    return Detected(LEGACY, packed, connection=False if body[0][0] < complete else None)


def _delimiters(line: str) -> list[str]:
    """The delimiters in ``line``, the likeliest first: the one after the first field (a
    time, which holds none of them)."""
    return [d for _, d in sorted((line.find(d), d) for d in DELIMITERS if d in line)]


def _json_connection(line: str) -> bool | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return any(record.get(key) is not None for key in _KEYS)


def _w3c(packed: bool, lines: list[str], complete: int) -> Detected:
    names: tuple[str, ...] | None = None
    data: str | None = None
    for number, line in enumerate(lines):
        if line.startswith("#"):
            if line.startswith("#Fields:"):
                names = split_names(line[len("#Fields:") :])
            continue
        data = line if number < complete else None
        break
    if data is not None:
        delimiter = (_delimiters(data) or [" "])[0]
    else:
        header = lines[-1] if lines else ""
        delimiter = "\t" if "\t" in header else "," if "," in header else " "
    connection = None if names is None else bool(_KEYS & {_canonical(n) for n in names})
    return Detected(W3C, packed, delimiter, names, connection)


def split_names(text: str) -> tuple[str, ...]:
    """The field names of a ``#Fields:`` line (separated by spaces, tabs or commas)."""
    return tuple(name for name in re.split(r"[\s,]+", text.strip()) if name)


def _canonical(name: str) -> str:
    return VENDED_SYNONYMS.get(name, name)


def split_plain(line: str, delimiter: str) -> list[str]:
    """The fields of one delimited line; a field may be double-quoted (the subject)."""
    if delimiter == " ":
        return _split_spaced(line)
    return next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])


def _split_spaced(line: str) -> list[str]:
    parts = line.split('"')
    if len(parts) != 3:
        return line.split(" ")
    head = parts[0].rstrip(" ").split(" ") if parts[0].strip() else []
    tail = parts[2].lstrip(" ").split(" ") if parts[2].strip() else []
    return [*head, parts[1], *tail]


def _plain_connection(line: str, delimiter: str, names: tuple[str, ...]) -> bool:
    """Whether ``line``, read with ``names``, is a good connection-log line."""
    if delimiter == " ":
        return bool(_LINE.fullmatch(line.rstrip(" ")))
    values = split_plain(line, delimiter)
    if len(values) < 12:
        return False
    fields = [v if v else "-" for v in values]
    subject = fields[SUBJECT_POSITION - 1]
    fields[SUBJECT_POSITION - 1] = '"' + subject.replace('"', "\\22") + '"'
    return bool(_LINE.fullmatch(" ".join(fields[: len(names)])))


def _parquet_connection(path: Path) -> bool | None:
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception:
        return None
    return bool(_KEYS & {_canonical(n) for n in names})
