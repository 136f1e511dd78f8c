"""The connection-log parser, written as SQL so that DuckDB runs it on all cores.

Python never touches individual lines on the hot path: a relation with one ``line`` column
(from ``read_csv`` over the log files) is turned into typed columns plus an ``error`` column
that holds the reason a line is malformed (NULL for a good line). The same SQL serves the
store's ingest and direct queries over files, so there is one parser.

Layout rules (spec §1.4-1.7): fields are separated by single spaces; only field 8, the leaf
certificate subject, is quoted and may contain spaces; ``-`` (and ``"-"`` for the subject) is
null; 12 and 13 field lines come from older logs; fields past the 15th are new fields AWS
appended, which we ignore but count.
"""

from __future__ import annotations

from mtls_doctor.knowledge.codes import DOCUMENTED_CODES
from mtls_doctor.logs.fields import FIELD_NAMES, MIN_FIELDS

_TS_FORMATS = "['%Y-%m-%dT%H:%M:%S.%fZ', '%Y-%m-%dT%H:%M:%SZ']"
_IPV4 = r"[0-9]{1,3}(\.[0-9]{1,3}){3}"
_IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"
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


def _split_sql() -> str:
    # Split on '"' first: a well-formed line gives 1 part (no quotes) or 3 parts
    # (before the subject, the subject, after it). Splitting whole lines on ' ' is what
    # makes `awk '{print $11}'` wrong whenever the subject holds a space.
    return """
    CASE WHEN len(q) = 3
         THEN list_concat(string_split(q[1], ' ')[1:7], [q[2]], string_split(q[3], ' ')[2:])
         ELSE string_split(line, ' ') END AS f,
    len(q) = 3 AND q[2] = '' AS empty_subject"""


def _layout_error_sql() -> str:
    return f"""
    CASE
      WHEN len(q) NOT IN (1, 3)
        THEN 'unbalanced double quotes: the subject must be one quoted field'
      WHEN len(q) = 3 AND (len(string_split(q[1], ' ')) <> 8 OR NOT ends_with(q[1], ' '))
        THEN 'the quoted subject is not field 8'
      WHEN len(q) = 3 AND q[3] <> '' AND NOT starts_with(q[3], ' ')
        THEN 'no space after the quoted subject'
      WHEN len(f) < {MIN_FIELDS}
        THEN 'only ' || len(f) || ' fields; at least {MIN_FIELDS} expected'
      WHEN list_position(f, '') IS NOT NULL AND NOT (empty_subject AND list_position(f, '') = 8)
        THEN 'empty field ' || list_position(f, '') || ' (two spaces in a row?)'
      ELSE NULL END"""


def _typed_sql() -> str:
    return f"""
    try_strptime(f[1], {_TS_FORMATS}) AS timestamp,
    f[2] AS client_ip,
    try_cast(f[3] AS INTEGER) AS client_port,
    try_cast(f[4] AS INTEGER) AS listener_port,
    nullif(f[5], '-') AS tls_protocol,
    nullif(f[6], '-') AS tls_cipher,
    CASE WHEN f[7] = '-' THEN NULL ELSE try_cast(f[7] AS DOUBLE) END AS tls_handshake_latency,
    nullif(nullif(f[8], '-'), '') AS leaf_client_cert_subject,
    nullif(f[9], '-') AS leaf_client_cert_validity,
    upper(nullif(f[10], '-')) AS leaf_client_cert_serial_number,
    f[11] AS tls_verify_status,
    nullif(f[12], '-') AS conn_trace_id,
    nullif(f[13], '-') AS tls_keyexchange,
    nullif(f[14], '-') AS elb,
    nullif(f[15], '-') AS ip_address,
    try_strptime(regexp_extract(f[9], '^NotBefore=([^;]+);', 1), {_TS_FORMATS}) AS not_before,
    try_strptime(regexp_extract(f[9], ';NotAfter=(.+)$', 1), {_TS_FORMATS}) AS not_after,
    len(f) AS field_count"""


def _value_error_sql() -> str:
    return f"""
    CASE
      WHEN layout_error IS NOT NULL THEN layout_error
      WHEN timestamp IS NULL
        THEN 'timestamp ' || f[1] || ' is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ)'
      WHEN NOT (regexp_full_match(client_ip, '{_IPV4}') OR regexp_full_match(client_ip, '{_IPV6}'))
        THEN 'client_ip ' || client_ip || ' is not an IP address'
      WHEN client_port IS NULL OR client_port NOT BETWEEN 0 AND 65535
        THEN 'client_port ' || f[3] || ' is not a port number'
      WHEN listener_port IS NULL OR listener_port NOT BETWEEN 0 AND 65535
        THEN 'listener_port ' || f[4] || ' is not a port number'
      WHEN f[7] <> '-' AND tls_handshake_latency IS NULL
        THEN 'tls_handshake_latency ' || f[7] || ' is not a number'
      WHEN leaf_client_cert_validity IS NOT NULL AND (not_before IS NULL OR not_after IS NULL)
        THEN 'leaf_client_cert_validity ' || f[9] || ' is not NotBefore=...;NotAfter=...'
      WHEN leaf_client_cert_serial_number IS NOT NULL
           AND NOT regexp_full_match(leaf_client_cert_serial_number, '[0-9A-F]+')
        THEN 'leaf_client_cert_serial_number ' || f[10] || ' is not hexadecimal'
      WHEN tls_verify_status NOT IN ('Success', '-')
           AND NOT starts_with(tls_verify_status, 'Failed:')
        THEN 'tls_verify_status ' || tls_verify_status || ' is not Success, Failed:<code> or -'
      ELSE NULL END"""


def parse_sql(source: str, passthrough: str = "") -> str:
    """SQL that parses ``source`` (a relation with a ``line`` column) into typed rows.

    ``passthrough`` is a comma-terminated list of extra columns of ``source`` to keep (for
    example ``filename,``). The result has those columns, ``line``, every column of
    :data:`PARSED_COLUMNS`, ``has_extra_fields``, ``unknown_code`` and ``error``.
    """
    return f"""
WITH r AS (SELECT {passthrough} rtrim(line, chr(13) || ' ') AS line FROM {source}),
n AS (SELECT * FROM r WHERE line IS NOT NULL AND trim(line) <> ''),
q AS (SELECT *, string_split(line, '"') AS q FROM n),
s AS (SELECT *, {_split_sql()} FROM q),
l AS (SELECT *, {_layout_error_sql()} AS layout_error FROM s),
t AS (SELECT {passthrough} line, layout_error, f, {_typed_sql()} FROM l),
v AS (SELECT *, {_value_error_sql()} AS error FROM t)
SELECT {passthrough} line,
  {", ".join(FIELD_NAMES)}, not_before, not_after,
  coalesce(nullif(ltrim(leaf_client_cert_serial_number, '0'), ''),
           CASE WHEN leaf_client_cert_serial_number IS NULL THEN NULL ELSE '0' END) AS serial_key,
  CASE WHEN tls_verify_status = 'Success' THEN 'success'
       WHEN tls_verify_status = '-' THEN 'not_tls' ELSE 'failed' END AS verify_result,
  CASE WHEN starts_with(tls_verify_status, 'Failed:') THEN tls_verify_status[8:] END
    AS error_code,
  field_count,
  field_count > {len(FIELD_NAMES)} AS has_extra_fields,
  starts_with(tls_verify_status, 'Failed:') AND tls_verify_status[8:] NOT IN ({_KNOWN})
    AS unknown_code,
  error
FROM v"""


def read_csv_sql(paths_param: str, gzip: bool) -> str:
    """A ``read_csv`` call that yields each physical line as one ``line`` column.

    The delimiter is a control character the ALB never writes, quoting is off (we split the
    quoted subject ourselves), and ``filename`` says which file a row came from.
    """
    compression = "gzip" if gzip else "none"
    return (
        f"read_csv({paths_param}, columns={{'line': 'VARCHAR'}}, delim=chr(1), quote='', "
        f"escape='', header=false, auto_detect=false, strict_mode=false, "
        f"compression='{compression}', filename=true)"
    )
