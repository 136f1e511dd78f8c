"""The connection-log parser, written as SQL so that DuckDB runs it on all cores.

Python never touches individual lines on the hot path: a relation with one ``line`` column
(from ``read_csv`` over the log files) is turned into typed columns plus an ``error`` column
that holds the reason a line is malformed (NULL for a good line). The same SQL serves the
store's ingest and direct queries over files, so there is one parser. When the compiled
scanner (``native.py``) has already certified and split a line, its fields arrive in the
``c1``..``c15`` columns and only the typing below is done; the scanner may only certify
lines this SQL accepts, so the definition of a good line stays here.

Layout rules (spec §1.4-1.7): fields are separated by single spaces; only field 8, the leaf
certificate subject, is quoted and may contain spaces; ``-`` (and ``"-"`` for the subject) is
null; 12 and 13 field lines come from older logs; fields past the 15th are new fields AWS
appended, which we ignore but count.

Speed: a good line costs one RE2 DFA match of :data:`LINE_RE` (the whole line, every field's
syntax) plus a few ``split_part`` calls. The list-based explanation of *why* a line is bad is
written inside the ``ELSE`` branch of a ``CASE``, which DuckDB evaluates only for the rows
that reach it, so it costs nothing on clean files.
"""

from __future__ import annotations

from mtls_doctor.knowledge.codes import DOCUMENTED_CODES
from mtls_doctor.knowledge.fields import FIELD_NAMES, MIN_FIELDS

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_RE = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H = r"[0-9a-fA-F]{1,4}"
IPV6_RE = (
    rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
    rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
    rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:)|({_H}:){{1,4}}:{IPV4_RE}"
    rf"|::(ffff(:0{{1,4}})?:)?{IPV4_RE})"
)
PORT_RE = (
    r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
)
# The ALB writes microseconds and Z (spec §1.4); whole seconds are accepted for validity dates.
TIME_RE = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z"
)
LATENCY_RE = r"(-|[0-9]+(\.[0-9]+)?)"
VALIDITY_RE = rf"(-|NotBefore={TIME_RE};NotAfter={TIME_RE})"
SERIAL_RE = r"(-|[0-9A-Fa-f]+)"
_TOKEN = r'[^ "]+'
STATUS_RE = rf"(Success|-|Failed:{_TOKEN})"
# A whole good line. Fields outside the subject hold no space and no double quote.
LINE_RE = (
    rf"{TIME_RE} ({IPV4_RE}|{IPV6_RE}) {PORT_RE} {PORT_RE} {_TOKEN} {_TOKEN} {LATENCY_RE} "
    rf'("[^"]*"|{_TOKEN}) {VALIDITY_RE} {SERIAL_RE} {STATUS_RE} {_TOKEN}( {_TOKEN})*'
)

_KNOWN = ", ".join(f"'{code}'" for code in DOCUMENTED_CODES)

# Typed columns, in the order of the store's table (fields.py order, then derived columns).
PARSED_COLUMNS: tuple[str, ...] = (
    *FIELD_NAMES,
    "not_before",
    "not_after",
    "serial_key",
    "verify_result",
    "error_code",
    "field_count",
)


# The raw text of fields 1-15 of a line certified by the compiled scanner (native.py), NULL
# for every other line. The scanner also gives the field count (nf, set exactly for the
# certified lines) and, already converted, the timestamp and the validity dates (ts, nb, na),
# so that DuckDB does not cast them again. A source without the scanner selects NULLs
# (NULL_RAW_COLUMNS).
RAW_COLUMNS: tuple[str, ...] = tuple(f"c{i}" for i in range(1, len(FIELD_NAMES) + 1))
SCANNER_COLUMNS: tuple[str, ...] = (*RAW_COLUMNS, "nf", "ts", "nb", "na")
NULL_RAW_COLUMNS = ", ".join(
    [f"NULL::VARCHAR AS {c}" for c in RAW_COLUMNS]
    + ["NULL::INTEGER AS nf", "NULL::TIMESTAMP AS ts", "NULL::TIMESTAMP AS nb"]
    + ["NULL::TIMESTAMP AS na"]
)


def verify_result_sql(status: str) -> str:
    """``success``, ``failed`` or ``not_tls``, from the raw ``tls_verify_status``."""
    return (
        f"CASE WHEN {status} = 'Success' THEN 'success' "
        f"WHEN {status} = '-' THEN 'not_tls' ELSE 'failed' END"
    )


def error_code_sql(status: str) -> str:
    """The code after ``Failed:`` (NULL for any other status)."""
    return f"CASE WHEN starts_with({status}, 'Failed:') THEN {status}[8:] END"


def serial_key_sql(serial: str) -> str:
    """The serial without its leading zeros (``0`` for a zero serial), to compare serials."""
    return (
        f"coalesce(nullif(ltrim({serial}, '0'), ''), "
        f"CASE WHEN {serial} IS NULL THEN NULL ELSE '0' END)"
    )


def unknown_code_sql(status: str) -> str:
    """True when ``status`` is ``Failed:<code>`` with a code AWS does not document."""
    return f"(starts_with({status}, 'Failed:') AND {status}[8:] NOT IN ({_KNOWN}))"


def _lit(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


# The fields as a list, for the explanation of a bad line only (see the module docstring).
_Q = "string_split(line, '\"')"
_F = (
    f"(CASE WHEN len({_Q}) = 3 THEN list_concat(string_split({_Q}[1], ' ')[1:7], [{_Q}[2]], "
    f"string_split({_Q}[3], ' ')[2:]) ELSE string_split(line, ' ') END)"
)


def _reason_sql() -> str:
    """Why a line that failed :data:`LINE_RE` is bad, most basic problem first."""
    f, q = _F, _Q

    def bad(index: int, pattern: str) -> str:
        return f"NOT regexp_full_match({f}[{index}], {_lit(pattern)})"

    return f"""CASE
      WHEN starts_with(line, chr(2)) THEN split_part(line, chr(2), 2)
      WHEN len({q}) NOT IN (1, 3)
        THEN 'unbalanced double quotes: the subject must be one quoted field'
      WHEN len({q}) = 3 AND (len(string_split({q}[1], ' ')) <> 8 OR NOT ends_with({q}[1], ' '))
        THEN 'the quoted subject is not field 8'
      WHEN len({q}) = 3 AND {q}[3] <> '' AND NOT starts_with({q}[3], ' ')
        THEN 'no space after the quoted subject'
      WHEN len({f}) < {MIN_FIELDS}
        THEN 'only ' || len({f}) || ' fields; at least {MIN_FIELDS} expected'
      WHEN list_position({f}, '') IS NOT NULL
           AND NOT (len({q}) = 3 AND {q}[2] = '' AND list_position({f}, '') = 8)
        THEN 'empty field ' || list_position({f}, '') || ' (two spaces in a row?)'
      WHEN {bad(1, TIME_RE)} OR try_cast({f}[1] AS TIMESTAMP) IS NULL
        THEN 'timestamp ' || {f}[1] || ' is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ)'
      WHEN {bad(2, IPV4_RE)} AND {bad(2, IPV6_RE)}
        THEN 'client_ip ' || {f}[2] || ' is not an IP address'
      WHEN {bad(3, PORT_RE)} THEN 'client_port ' || {f}[3] || ' is not a port number'
      WHEN {bad(4, PORT_RE)} THEN 'listener_port ' || {f}[4] || ' is not a port number'
      WHEN {bad(7, LATENCY_RE)}
        THEN 'tls_handshake_latency ' || {f}[7] || ' is not a number'
      WHEN {bad(9, VALIDITY_RE)}
        THEN 'leaf_client_cert_validity ' || {f}[9] || ' is not NotBefore=...;NotAfter=...'
      WHEN {bad(10, SERIAL_RE)}
        THEN 'leaf_client_cert_serial_number ' || {f}[10] || ' is not hexadecimal'
      WHEN {bad(11, STATUS_RE)}
        THEN 'tls_verify_status ' || {f}[11] || ' is not Success, Failed:<code> or -'
      ELSE 'a date that does not exist' END"""


# A line that stands for a record of a vended log that could not be read (vended/lines.py):
# this mark, the reason (the malformed line's message), this mark, the record's start. The
# ALB never writes U+0002, and no good line starts with it.
UNREADABLE_MARK = "\x02"


def _fields_sql() -> str:
    # Fields 1-7 never hold a space, so they are items 1-7 of the line split on spaces in any
    # line. The rest come from the text after the subject ("tail", starting with a space).
    # One list per line: each split_part() call would split the whole string again.
    # Lines certified by the compiled scanner arrive split (c1..c15) and skip all of this.
    tail = (
        "CASE WHEN contains(line, '\"') THEN split_part(line, '\"', 3) "
        "ELSE ' ' || array_to_string(string_split(line, ' ')[9:], ' ') END"
    )
    subject = (
        "CASE WHEN contains(line, '\"') THEN split_part(line, '\"', 2) "
        "ELSE split_part(line, ' ', 8) END"
    )
    return f"""CASE WHEN nf IS NULL THEN string_split(line, ' ') END AS ls,
      CASE WHEN nf IS NULL THEN string_split({tail}, ' ') END AS tl,
      coalesce(c8, CASE WHEN nf IS NULL THEN {subject} END) AS subject_raw"""


def _split(position: int) -> str:
    """The text of field ``position`` (1-based) from the split line (NULL for a scanned one)."""
    if position <= 7:
        return f"ls[{position}]"
    if position == 8:
        return "subject_raw"
    return f"tl[{position - 7}]"  # field 8 + k is item k + 1 of tl


def _raw(position: int) -> str:
    """The text of field ``position``, from the scanner or from the split line."""
    return _split(position) if position == 8 else f"coalesce(c{position}, {_split(position)})"


def _typed_sql(scanned: bool = False) -> str:
    """The typed fields; with ``scanned``, of certified lines only (see certified_sql)."""
    raw = (lambda position: f"c{position}") if scanned else _raw

    def after(k: int) -> str:  # field 8 + k
        return f"nullif({raw(8 + k)}, '-')"

    latency = raw(7)
    return f"""
    {"ts" if scanned else _first_of("ts", f"try_cast({raw(1)} AS TIMESTAMP)")} AS timestamp,
    {raw(2)} AS client_ip,
    try_cast({raw(3)} AS INTEGER) AS client_port,
    try_cast({raw(4)} AS INTEGER) AS listener_port,
    nullif({raw(5)}, '-') AS tls_protocol,
    nullif({raw(6)}, '-') AS tls_cipher,
    CASE WHEN {latency} = '-' THEN NULL ELSE try_cast({latency} AS DOUBLE) END
      AS tls_handshake_latency,
    nullif(nullif({"c8" if scanned else "subject_raw"}, '-'), '') AS leaf_client_cert_subject,
    {after(1)} AS leaf_client_cert_validity,
    upper({after(2)}) AS leaf_client_cert_serial_number,
    coalesce({raw(11)}, '') AS tls_verify_status,
    {after(4)} AS conn_trace_id,
    nullif({after(5)}, '') AS tls_keyexchange,
    nullif({after(6)}, '') AS elb,
    nullif({after(7)}, '') AS ip_address,
    {"nf" if scanned else "coalesce(nf, 7 + len(tl))"} AS field_count"""


def _date_sql(validity: str, part: int) -> str:
    return f"try_cast(split_part(split_part({validity}, ';', {part}), '=', 2) AS TIMESTAMP)"


def _dates_sql() -> str:
    return f"""
    {_first_of("nb", _date_sql("leaf_client_cert_validity", 1))} AS not_before,
    {_first_of("na", _date_sql("leaf_client_cert_validity", 2))} AS not_after"""


def _first_of(column: str, fallback: str) -> str:
    # coalesce() does part of the fallback's work on every row; CASE evaluates it only where
    # the scanner left the column NULL (8x cheaper alone, on 5M rows; small end to end).
    return f"CASE WHEN {column} IS NOT NULL THEN {column} ELSE {fallback} END"


# The error of a malformed line when its reason is not asked for (parse_sql's reasons).
MALFORMED = "malformed"


def _error_sql(reasons: bool) -> str:
    # A certified line (nf set) is good by construction. The others were not scanned, so the
    # checks read the split line alone: neither the typed columns nor c1..c15 need be read
    # or computed for a certified line.
    why = _reason_sql() if reasons else f"'{MALFORMED}'"
    validity = f"nullif({_split(9)}, '-')"
    return f"""CASE
      WHEN nf IS NOT NULL THEN NULL
      WHEN rest IS NOT NULL THEN 'control character U+0001 in the line'
      WHEN regexp_full_match(line, {_lit(LINE_RE)}) AND try_cast(ls[1] AS TIMESTAMP) IS NOT NULL
           AND ({validity} IS NULL OR ({_date_sql(validity, 1)} IS NOT NULL
                                       AND {_date_sql(validity, 2)} IS NOT NULL))
        THEN NULL
      ELSE {why} END"""


def _trimmed(column: str) -> str:
    # Trailing spaces occur in AWS's own examples. rtrim() is slow on DuckDB, hence the
    # test first; there is no CR to strip since read_csv ends lines at CR too.
    return (
        f"CASE WHEN ends_with({column}, ' ') THEN rtrim({column}) ELSE coalesce({column}, '') END"
    )


def parse_sql(source: str, passthrough: str = "", reasons: bool = True) -> str:
    """SQL that parses ``source`` (a relation with ``line`` and ``rest`` columns) into rows.

    ``rest`` is what ``read_csv`` found after a U+0001 byte (NULL when there is none); such
    a line keeps a trailing U+0001 in ``line`` so that it can be found again and numbered.
    ``passthrough`` is a comma-terminated list of extra columns of ``source`` to keep (for
    example ``filename,``). The result has those columns, ``line``, every column of
    :data:`PARSED_COLUMNS`, ``has_extra_fields``, ``unknown_code`` and ``error``. Without
    ``reasons``, ``error`` says only :data:`MALFORMED`: a query that just tells good lines
    from bad is then planned in a third of the time (the reasons' patterns are most of it).
    """
    raw = ", ".join(SCANNER_COLUMNS)
    return f"""
WITH r AS (SELECT {passthrough} CASE WHEN nf IS NULL THEN {_trimmed("line")}
    || CASE WHEN rest IS NULL THEN '' ELSE chr(1) END END AS line, rest, {raw} FROM {source}),
n AS (SELECT * FROM r WHERE nf IS NOT NULL OR line <> ''),
s AS (SELECT *, {_fields_sql()} FROM n),
t AS (SELECT {passthrough} line, rest, ls, tl, subject_raw, {raw}, {_typed_sql()} FROM s),
d AS (SELECT *, {_dates_sql()} FROM t),
v AS (SELECT *, {_error_sql(reasons)} AS error FROM d)
SELECT {passthrough} line,
  {", ".join(FIELD_NAMES)}, not_before, not_after,
  {serial_key_sql("leaf_client_cert_serial_number")} AS serial_key,
  {verify_result_sql("tls_verify_status")} AS verify_result,
  {error_code_sql("tls_verify_status")} AS error_code,
  field_count,
  field_count > {len(FIELD_NAMES)} AS has_extra_fields,
  {unknown_code_sql("tls_verify_status")} AS unknown_code,
  error
FROM v"""


def certified_sql(source: str, passthrough: str = "") -> str:
    """The rows of the lines of ``source`` that the compiled scanner certified (``nf`` set),
    typed as :func:`parse_sql` types them, with the same expressions; its other lines are
    left out. A certified line is good (the scanner certifies only lines the SQL accepts,
    with the same values: tests/logs/test_linescan.py), so nothing here decides that: this
    is only the typing, without the fallbacks that split a line the scanner left alone.

    The result has the ``passthrough`` columns, the fields, ``not_before``, ``not_after``
    and ``field_count``; ``ingest`` stores these rows (about 5% of its CPU time was the
    fallbacks, on lines that never need them).
    """
    return f"""SELECT {passthrough} {_typed_sql(scanned=True)}, nb AS not_before, na AS not_after
FROM {source} WHERE nf IS NOT NULL"""


# A line longer than this (in UTF-8 bytes, line end excluded) is cut short and reported as
# malformed by both readers: an ALB line is under 1 KiB, and DuckDB would otherwise hold lines
# of up to 2 MiB and give up on a file with a longer one.
MAX_LINE_BYTES = 64 * 1024
# read_csv turns a field equal to its nullstr into NULL; this one no log line holds.
_NO_NULL = "'\x02mtls-doctor: never null\x03'"


def read_csv_sql(paths_param: str, gzip: bool) -> str:
    """A ``read_csv`` call that yields each physical line as one ``line`` column.

    The delimiter is U+0001, a control character the ALB never writes; whatever follows one
    lands in ``rest`` so that such a line is reported rather than silently cut. Quoting is
    off (we split the quoted subject ourselves), and ``filename`` says which file a row
    came from. DuckDB ends a line at ``\\n``, ``\\r\\n`` and a lone ``\\r``.
    """
    compression = "gzip" if gzip else "none"
    return (
        f"read_csv({paths_param}, columns={{'line': 'VARCHAR', 'rest': 'VARCHAR'}}, "
        f"delim=chr(1), quote='', escape='', header=false, auto_detect=false, "
        f"strict_mode=false, null_padding=true, nullstr={_NO_NULL}, "
        f"max_line_size={MAX_LINE_BYTES}, "
        f"compression='{compression}', filename=true)"
    )
