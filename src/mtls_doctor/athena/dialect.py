"""The rows diagnose reads, derived on Athena, and SQL turned from DuckDB into Trino text.

The Athena table exposes the raw fields as strings (plus the AWS ``int``/``double`` columns).
:data:`DERIVED` turns them into the columns of the local store (``timestamp`` as a
TIMESTAMP, ``verify_result``, ``error_code``, ``serial_key``, ``not_before``/``not_after``,
...), written once in DuckDB SQL. :func:`relation_sql` wraps it, with the partition and
object-name filters, as the ``{rel}`` of diagnose's query templates, and :func:`render`
turns the finished text into Trino SQL with sqlglot, writing ``$name`` parameters as
literals (Athena has no named parameters). The same DuckDB text runs locally in the parity
test, so the two engines cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mtls_doctor.athena.ddl import EXTRA_COLUMN
from mtls_doctor.athena.vended import normalised_sql
from mtls_doctor.aws.athena import DAY_FORMAT
from mtls_doctor.knowledge.fields import FIELD_NAMES
from mtls_doctor.timeutil import to_naive_utc

# Connection-log objects only (both name spellings, spec §1.3): access logs and the
# ELBConnectionLogTestFile may share the folders.
PATH_FILTER = "regexp_matches(\"$path\", '/conn_log[._][0-9]{12}_elasticloadbalancing_')"
_TS_SHAPE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?Z$"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = f"^({_OCTET}[.]){{3}}{_OCTET}$"
_IPV6 = "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"
_SERIAL = "upper(nullif(leaf_client_cert_serial_number, '-'))"
_VALIDITY = "nullif(leaf_client_cert_validity, '-')"


def _ts(expr: str) -> str:
    """An ALB time string (``2023-10-04T17:05:15.514108Z``) as a TIMESTAMP, else NULL."""
    return (
        f"CASE WHEN regexp_matches({expr}, '{_TS_SHAPE}') "
        f"THEN TRY_CAST(replace(replace({expr}, 'T', ' '), 'Z', '') AS TIMESTAMP) END"
    )


def _optional_count(column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN 0 ELSE 1 END"


_EXTRA = f"trim({EXTRA_COLUMN})"
# column of the local store -> DuckDB expression over the Athena table's columns.
DERIVED: dict[str, str] = {
    "timestamp": _ts('"time"'),
    "client_ip": "client_ip",
    "client_port": "client_port",
    "listener_port": "listener_port",
    "tls_protocol": "nullif(tls_protocol, '-')",
    "tls_cipher": "nullif(tls_cipher, '-')",
    "tls_handshake_latency": "tls_handshake_latency",
    "leaf_client_cert_subject": "nullif(nullif(leaf_client_cert_subject, '-'), '')",
    "leaf_client_cert_validity": _VALIDITY,
    "leaf_client_cert_serial_number": _SERIAL,
    "tls_verify_status": "tls_verify_status",
    "conn_trace_id": "nullif(conn_trace_id, '-')",
    "tls_keyexchange": "nullif(tls_keyexchange, '-')",
    "elb": "nullif(elb, '-')",
    "ip_address": "nullif(ip_address, '-')",
    "not_before": _ts(f"regexp_extract({_VALIDITY}, '^NotBefore=([^;]+);', 1)"),
    "not_after": _ts(f"regexp_extract({_VALIDITY}, ';NotAfter=(.+)$', 1)"),
    "serial_key": f"CASE WHEN {_SERIAL} IS NULL THEN NULL "
    f"WHEN regexp_replace({_SERIAL}, '^0+', '') = '' THEN '0' "
    f"ELSE regexp_replace({_SERIAL}, '^0+', '') END",
    "verify_result": "CASE WHEN tls_verify_status = 'Success' THEN 'success' "
    "WHEN tls_verify_status = '-' THEN 'not_tls' ELSE 'failed' END",
    "error_code": "CASE WHEN tls_verify_status LIKE 'Failed:%' "
    "THEN substr(tls_verify_status, 8) END",
    "field_count": "12 + "
    + " + ".join(_optional_count(c) for c in FIELD_NAMES[12:])
    + f" + CASE WHEN coalesce({_EXTRA}, '') = '' THEN 0 "
    f"ELSE length({_EXTRA}) - length(replace({_EXTRA}, ' ', '')) + 1 END",
    "source_file": '"$path"',
}

# The checks of the local parser that the table's regex does not already make.
VALID = " AND ".join(
    (
        "timestamp IS NOT NULL",
        f"(regexp_matches(client_ip, '{_IPV4}') OR regexp_matches(client_ip, '{_IPV6}'))",
        "client_port BETWEEN 0 AND 65535",
        "listener_port BETWEEN 0 AND 65535",
        "(leaf_client_cert_validity IS NULL OR (not_before IS NOT NULL AND not_after IS NOT NULL))",
        "(leaf_client_cert_serial_number IS NULL "
        "OR regexp_matches(leaf_client_cert_serial_number, '^[0-9A-F]+$'))",
        "regexp_matches(tls_verify_status, '^(Success|-|Failed:[^ \"]+)$')",
    )
)


@dataclass(frozen=True)
class DayRange:
    """The ``day`` partitions (delivery dates, ``yyyy/MM/dd``) a query reads; None = open."""

    first: date | None = None
    last: date | None = None

    @classmethod
    def around(cls, since: datetime | None, until: datetime | None) -> DayRange:
        """Days that can hold connections in [since, until): one day of margin on each side,
        because the folder is the delivery date and a connection near midnight is delivered
        the next day (spec §1.2)."""
        first = to_naive_utc(since).date() - timedelta(days=1) if since else None
        last = to_naive_utc(until).date() + timedelta(days=1) if until else None
        return cls(first, last)

    def predicate(self) -> str:
        conds = []
        if self.first is not None:
            conds.append(f"day >= '{self.first.strftime(DAY_FORMAT)}'")
        if self.last is not None:
            conds.append(f"day <= '{self.last.strftime(DAY_FORMAT)}'")
        return " AND ".join(conds) or "true"

    def days(self, start: date, today: date) -> list[date]:
        """Every partition in range, given the projection's start and today's date."""
        first = max(self.first or start, start)
        last = min(self.last or today, today)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first.strftime(DAY_FORMAT) if self.first else None,
            "last": self.last.strftime(DAY_FORMAT) if self.last else None,
        }


def derived_sql(table: str, days: DayRange, kind: str = "legacy") -> str:
    """Every row of the connection-log objects in ``days``, with the store's columns.

    ``kind`` is the table's (:data:`.vended.KINDS`): a vended table is read through
    :func:`.vended.normalised_sql`, which gives the legacy table's columns, so everything
    from here on is one SQL for every kind."""
    cols = ",\n  ".join(f"{expr} AS {name}" for name, expr in DERIVED.items())
    if kind == "legacy":
        source, where = table, f"{days.predicate()} AND {PATH_FILTER}"
    else:
        source = f"({normalised_sql(table, kind, days.first, days.last)}) AS vended"
        where = days.predicate()
    return f"SELECT\n  {cols},\n  {EXTRA_COLUMN}\nFROM {source}\nWHERE {where}"


def relation_sql(table: str, days: DayRange, kind: str = "legacy") -> str:
    """The ``{rel}`` of diagnose's templates: valid rows only, as the local engine sees them."""
    names = ", ".join(DERIVED)
    return f"(SELECT {names} FROM ({derived_sql(table, days, kind)}) AS d WHERE {VALID}) AS conn"


def literal(value: Any) -> Any:
    """A parameter value as a sqlglot literal node (strings quoted and escaped by sqlglot)."""
    from sqlglot import exp

    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime):
        text = to_naive_utc(value).isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def render(sql: str, params: Mapping[str, Any] | None = None, dialect: str = "trino") -> str:
    """DuckDB SQL with ``$name`` parameters -> ``dialect`` SQL with the values inlined.

    Values never travel as text: each becomes a literal node, which sqlglot quotes.
    """
    import sqlglot
    from sqlglot import exp

    values = dict(params or {})
    tree = sqlglot.parse_one(sql, read="duckdb")

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            name = str(node.this)
            if name not in values:
                raise ValueError(f"no value for parameter ${name}")
            return literal(values[name])  # type: ignore[no-any-return]
        return node

    tree = tree.transform(rewrite)
    tree = tree.transform(_portable)
    if dialect == "trino":
        tree = _json_arrays(tree.transform(_trino_types))
    return str(tree.sql(dialect=dialect, identify=True))


def _portable(node: Any) -> Any:
    """DuckDB functions whose Trino namesake means something else."""
    from sqlglot import exp

    array = node.this if isinstance(node, exp.ArrayContains) else None
    if isinstance(array, exp.Array) and not array.expressions:  # an empty list holds nothing
        return exp.false()
    if isinstance(node, exp.Contains):  # DuckDB substring test; Trino contains() is for arrays
        return exp.GT(
            this=exp.StrPosition(this=node.this, substr=node.expression),
            expression=exp.Literal.number(0),
        )
    return node


def _trino_types(node: Any) -> Any:
    """Trino's plain TIMESTAMP keeps milliseconds; the ALB writes microseconds."""
    from sqlglot import exp

    plain = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ)
    if isinstance(node, exp.DataType) and node.this in plain and not node.expressions:
        return exp.DataType.build("TIMESTAMP(6)", dialect="trino")
    return node


def _json_arrays(tree: Any) -> Any:
    """Array columns of the result (``list(...)`` in DuckDB) come back as JSON text.

    GetQueryResults writes an array as ``[a, b]``, which cannot be split back when a value
    holds ", "; ``CAST(... AS JSON)`` makes it ``["a","b"]``, which
    :func:`mtls_doctor.aws.athena.convert` decodes. UNCONFIRMED (not in our spec): that
    Athena returns a ``json`` column as its JSON text.
    """
    from sqlglot import exp

    if not isinstance(tree, exp.Select):
        return tree
    for projection in tree.expressions:
        node = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(node, exp.ArrayAgg):
            node.replace(exp.cast(node.copy(), exp.DataType.build("JSON")))
    return tree


def to_duckdb(trino_sql: str) -> str:
    """Trino text back to DuckDB (the parity test runs Athena's SQL this way)."""
    import sqlglot

    return str(sqlglot.transpile(trino_sql, read="trino", write="duckdb")[0])
