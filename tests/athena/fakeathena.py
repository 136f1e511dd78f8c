"""A stand-in for Athena: the table's regex applied to lines, and Trino SQL run on DuckDB.

It counts the scans each query makes of the log table (:func:`table_scans`): Athena bills
every read of a text table in full, so that count, not the number of queries, is the cost.

Hive's ``RegexSerDe`` calls Java's ``Matcher.matches()`` (a whole-line match) and puts
group *i* in column *i*; a group that did not take part, or a line that does not match,
gives NULL (the whole row NULL). ``int``/``double`` columns that do not parse are NULL too.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from mtls_doctor.athena import ddl
from mtls_doctor.athena.dialect import to_duckdb
from mtls_doctor.aws.athena import QueryResult, convert

LOCATION = "s3://logs-bucket/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
TABLE = '"mtls_doctor"."alb_connection_logs"'


def regex_from_ddl(ddl_text: str) -> str:
    """The ``input.regex`` literal of the DDL, unescaped as Hive reads it (``\\"`` -> ``"``)."""
    match = re.search(r"'input\.regex' = '((?:[^'\\]|\\.)*)'", ddl_text)
    assert match is not None, "no input.regex in the DDL"
    literal = match.group(1)
    # Only \" and \' may appear: any other backslash sequence could read differently in Hive.
    assert re.fullmatch(r"(?:[^\\]|\\[\"'])*", literal), literal
    return literal.replace('\\"', '"').replace("\\'", "'")


def _hive_value(text: str | None, kind: str) -> Any:
    if text is None:
        return None
    if kind == "int":
        try:
            value = int(text)
        except ValueError:
            return None
        return value if -(2**31) <= value < 2**31 else None
    if kind == "double":
        try:
            return float(text)
        except ValueError:
            return None
    return text


def hive_row(pattern: re.Pattern[str], line: str) -> tuple[Any, ...]:
    cols = ddl.columns()
    match = pattern.fullmatch(line)
    if match is None:
        return (None,) * len(cols)
    return tuple(_hive_value(match.group(i + 1), kind) for i, (_, kind) in enumerate(cols))


def load_table(con: duckdb.DuckDBPyConnection, objects: dict[str, list[str]]) -> None:
    """``objects``: S3 key under :data:`LOCATION` (``yyyy/mm/dd/name``) -> its lines."""
    spec = ddl.TableSpec(LOCATION)
    pattern = re.compile(regex_from_ddl(ddl.create_table_sql(spec)))
    types = {"string": "VARCHAR", "int": "INTEGER", "double": "DOUBLE"}
    cols = ", ".join(f'"{n}" {types[k]}' for n, k in ddl.columns())
    con.execute("CREATE SCHEMA IF NOT EXISTS mtls_doctor")
    con.execute(f'CREATE TABLE {TABLE} ({cols}, "day" VARCHAR, "$path" VARCHAR)')
    rows = []
    for key, lines in objects.items():
        day = key[:10]
        for line in lines:
            rows.append((*hive_row(pattern, line), day, LOCATION + key))
    marks = ", ".join("?" for _ in range(len(ddl.columns()) + 2))
    con.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", rows)


def table_scans(trino_sql: str, table: str = TABLE) -> int:
    """How many times ``trino_sql`` reads ``table``: each reference in the text, and each
    reference to a WITH query counts the reads of that query again (Trino inlines them)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(trino_sql, read="trino")
    name = exp.to_table(table, dialect="trino")
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}

    def reads(node: exp.Expression) -> int:
        body = node.copy()
        for with_ in list(body.find_all(exp.With)):
            with_.pop()  # a WITH query is read where it is used, as often as it is used
        count = 0
        for ref in body.find_all(exp.Table):
            if not ref.db and ref.name in ctes:
                count += reads(ctes[ref.name])
            elif (ref.db, ref.name) == (name.db, name.name):
                count += 1
        return count

    return reads(tree)


class DuckRunner:
    """Runs the Trino text on DuckDB; transpiling parses it in the Trino dialect first, so
    text that is not valid Trino fails here."""

    def __init__(self, con: duckdb.DuckDBPyConnection, scanned: int = 1000) -> None:
        self.con = con
        self.scanned = scanned
        self.sqls: list[str] = []

    @property
    def scans(self) -> int:
        """Reads of the log table by every query run so far."""
        return sum(table_scans(sql) for sql in self.sqls)

    def run(self, sql: str) -> QueryResult:
        self.sqls.append(sql)
        cursor = self.con.execute(to_duckdb(sql))
        # Athena sends a json column as its text, which the runner decodes (aws.athena.convert).
        kinds = ["json" if str(d[1]) == "JSON" else "" for d in cursor.description or []]
        rows = [
            tuple(convert(v, k) if k else v for v, k in zip(row, kinds, strict=True))
            for row in cursor.fetchall()
        ]
        return QueryResult(rows, self.scanned, f"q{len(self.sqls)}")
