"""Read one pasted connection-log line (``cert check --log-line``).

The line is parsed by the project's one connection-log parser (the SQL in
:mod:`mtls_doctor.logs.parse`, run by DuckDB on this single line), so the rules for quoting,
dashes and 12-15 fields are not repeated here. It lives in diagnose, above both logs and
pki, because it joins the two: pki compares the verdict with it and needs no DuckDB.
"""

from __future__ import annotations

from datetime import UTC

from mtls_doctor import duck
from mtls_doctor.errors import InputError
from mtls_doctor.logs.parse import NULL_RAW_COLUMNS, parse_sql
from mtls_doctor.pki.logmatch import LoggedConnection


def parse_log_line(line: str) -> LoggedConnection:
    """Read one ALB connection-log line.

    Raises:
        InputError: the line is not in the ALB format (the parser's reason is given).
    """
    # ``rest`` is what read_csv would find after a U+0001 byte: nothing, for a pasted line.
    sql = parse_sql(f"(SELECT ?::VARCHAR AS line, NULL::VARCHAR AS rest, {NULL_RAW_COLUMNS})")
    columns = (
        "timestamp, tls_verify_status, error_code, leaf_client_cert_serial_number, "
        "leaf_client_cert_subject, error"
    )
    query = f"SELECT {columns} FROM ({sql})"
    with duck.connect() as connection:
        row = connection.execute(query, [line]).fetchone()
    if row is None:
        raise InputError("--log-line is empty", hint="Paste one line of a connection log.")
    timestamp, status, code, serial, subject, error = row
    if error or timestamp is None:
        raise InputError(
            f"--log-line is not an ALB connection-log line: {error or 'no timestamp'}",
            hint="Paste the whole line, with the subject in double quotes.",
        )
    stamp = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    return LoggedConnection(stamp, code or status, serial, subject)
