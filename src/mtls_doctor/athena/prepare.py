"""diagnose's prepared tables, computed by Athena in one scan and asked here.

A diagnosis needs three small tables (see :class:`~mtls_doctor.diagnose.source.Prepared`):
the selection counted per status and minute (``queries.STATUS_MINUTES``), its failed rows
counted per code, client and certificate (``queries.FAILURE_GROUPS``), and who used each
certificate that worked and expires before the horizon (``queries.EXPIRING_CLIENTS``); plus
the read statistics of every line in the partitions. Asked of Athena one by one, each would
read the partitions again, and Athena bills every byte read.

:func:`prepared_sql` computes all four in one aggregation over one read of the partitions:
``GROUP BY GROUPING SETS``, one set per table and the empty set for the statistics. A row
takes part in every set, so each set's keys are NULL unless the row belongs to that table (a
marker column says whether it does); the rows outside fall into one group per set, which
``HAVING`` drops. :class:`AthenaTables` downloads the result (small: a row per status and
minute, per failing client and certificate, per expiring certificate and client) into a
local DuckDB, where diagnose, the report and the dashboard ask their questions exactly as
they ask the tables of a store or of files.

The local staging queries in ``diagnose/queries.py`` stay the definition:
``tests/athena/test_prepared.py`` holds these tables equal to what they give on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtls_doctor import duck
from mtls_doctor.athena.ddl import EXTRA_COLUMN
from mtls_doctor.athena.dialect import VALID, DayRange, derived_sql
from mtls_doctor.diagnose import queries as q
from mtls_doctor.diagnose.source import Prepared, Query, Rows, Scope
from mtls_doctor.logs.api import ReadStats

# Athena queries one diagnosis (or report) runs; an IPv6 block in the client filter adds one
# (the addresses it matches are looked up first, see diagnose.target.resolve_candidates).
DIAGNOSIS_SCANS = 1

# Per table: its marker (a selected row belongs to it), its key columns (name -> expression
# over the derived row) and its aggregates, with DuckDB types for the local copy.
_COUNTS = {
    "tls_verify_status": ("tls_verify_status", "VARCHAR"),
    "bucket": ("date_trunc('minute', timestamp)", "TIMESTAMP"),
}
_FAILURES = {
    name: (name, kind)
    for name, kind in (
        ("error_code", "VARCHAR"),
        ("verify_result", "VARCHAR"),
        ("client_ip", "VARCHAR"),
        ("serial_key", "VARCHAR"),
        ("leaf_client_cert_serial_number", "VARCHAR"),
        ("leaf_client_cert_subject", "VARCHAR"),
        ("not_before", "TIMESTAMP"),
        ("not_after", "TIMESTAMP"),
        ("elb", "VARCHAR"),
    )
}
_EXPIRING = {
    name: (name, kind)
    for name, kind in (
        ("leaf_client_cert_serial_number", "VARCHAR"),
        ("leaf_client_cert_subject", "VARCHAR"),
        ("not_after", "TIMESTAMP"),
        ("client_ip", "VARCHAR"),
    )
}
_TLS = {
    name: (name, "VARCHAR")
    for name in ("client_ip", "tls_protocol", "tls_cipher", "tls_keyexchange")
}
_TABLES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "counts": ("sel", _COUNTS),
    "failures": ("sel AND verify_result = 'failed'", _FAILURES),
    "expiring": ("sel AND verify_result = 'success' AND not_after < $horizon", _EXPIRING),
}
# queries.TLS_HANDSHAKES, only when the Scope asks (diagnose/tls.py): a grouping set more.
_TLS_TABLE = ("sel AND tls_protocol IS NOT NULL", _TLS)


def _tables(tls: bool) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    return {**_TABLES, "tls": _TLS_TABLE} if tls else _TABLES


_AGGREGATES: dict[str, tuple[str, str]] = {
    "n": ("count(*)", "BIGINT"),
    "first_seen": ("min(timestamp)", "TIMESTAMP"),
    "last_seen": ("max(timestamp)", "TIMESTAMP"),
    # The statistics cover every line of the partitions, selected or not (the empty set).
    "files": ("count(DISTINCT source_file)", "BIGINT"),
    "valid_rows": ("count(*) FILTER (WHERE ok)", "BIGINT"),
    "malformed": ("count(*) FILTER (WHERE NOT ok)", "BIGINT"),
    "extra_field_lines": (
        f"count(*) FILTER (WHERE ok AND coalesce(trim({EXTRA_COLUMN}), '') <> '')",
        "BIGINT",
    ),
    "unknown_code_lines": (f"count(*) FILTER (WHERE ok AND {q.UNKNOWN_CODE})", "BIGINT"),
}


# What each table keeps of the aggregates, named as its staging query names them.
_COUNTED = {
    "counts": "n, first_seen, last_seen",
    "failures": "n, first_seen, last_seen",
    "expiring": "last_seen AS timestamp",  # EXPIRING_CLIENTS: when each client last used it
    "tls": "n, first_seen, last_seen",
}


def _columns(tls: bool = False) -> list[tuple[str, str, str]]:
    """(result column, expression over a marked row, DuckDB type), in result order."""
    out: list[tuple[str, str, str]] = []
    for table, (_, keys) in _tables(tls).items():
        out.append((f"m_{table}", f"m_{table}", "BOOLEAN"))
        out += [(f"{table}__{name}", f"{table}__{name}", kind) for name, (_, kind) in keys.items()]
    out += [(name, expr, kind) for name, (expr, kind) in _AGGREGATES.items()]
    return out


def prepared_sql(
    table: str, days: DayRange, where: str, *, tls: bool = False, kind: str = "legacy"
) -> str:
    """The one Athena query of a diagnosis (DuckDB text; ``$horizon`` and the filters'
    parameters are bound by :func:`~.dialect.render`); with ``tls``, the TLS handshakes too;
    ``kind``: the table's (legacy, or a vended JSON/Parquet table, :mod:`.vended`)."""
    tables = _tables(tls)
    marked = []
    for name, (member, keys) in tables.items():
        marker = f"m_{name}"
        marked.append(f"coalesce({member}, false) AS {marker}")
        # Outside its table a row's keys are NULL, so those rows make one group, dropped.
        marked += [
            f"CASE WHEN coalesce({member}, false) THEN {expr} END AS {name}__{key}"
            for key, (expr, _) in keys.items()
        ]
    sets = ", ".join(
        "(" + ", ".join([f"m_{name}", *(f"{name}__{key}" for key in keys)]) + ")"
        for name, (_, keys) in tables.items()
    )
    outputs = ",\n  ".join(
        expr if expr == column else f"{expr} AS {column}" for column, expr, _ in _columns(tls)
    )
    markers = ", ".join(f"m_{name}" for name in tables)
    derived = derived_sql(table, days, kind)
    return f"""SELECT
  {outputs}
FROM (
  SELECT *, {", ".join(marked)}
  FROM (
    SELECT *, coalesce(ok AND ({where}), false) AS sel
    FROM (SELECT *, coalesce({VALID}, false) AS ok FROM ({derived}) AS d) AS v
  ) AS s
) AS r
GROUP BY GROUPING SETS ({sets}, ())
HAVING coalesce({markers}, true)"""


def prepared_query(
    table: str, days: DayRange, scope: Scope, kind: str = "legacy"
) -> tuple[str, dict[str, Any]]:
    """:func:`prepared_sql` for ``scope`` (its filters already resolved), and its parameters."""
    where, params = scope.filters.where()
    sql = prepared_sql(table, days, where, tls=scope.tls, kind=kind)
    return sql, {**params, "horizon": scope.horizon}


class AthenaTables:
    """The prepared tables of one diagnosis, downloaded from Athena into a local DuckDB.

    A :class:`~mtls_doctor.diagnose.source.Source` read for ``scope``, like a store's or
    files' (``prepared`` names the counts per status and minute, the failure groups and the
    expiring certificates), so the engine asks it the same questions.
    """

    def __init__(self, rows: Sequence[tuple[Any, ...]], scope: Scope) -> None:
        self.con = duck.connect()
        self._load(rows, scope.tls)
        self.prepared = Prepared.of_tables(
            scope,
            "athena_counts",
            "athena_failures",
            "athena_expiring",
            tls="athena_tls" if scope.tls else None,
        )
        markers = ", ".join(f"m_{name}" for name in _tables(scope.tls))
        stats = self.fetch(
            "SELECT files, malformed, extra_field_lines, unknown_code_lines, valid_rows "
            f"FROM athena_result WHERE coalesce({markers}) IS NULL"
        )
        files, malformed, extra, unknown, valid = (int(v or 0) for v in stats[0])
        self.stats = ReadStats(
            files=files,
            malformed=malformed,
            extra_field_lines=extra,
            unknown_code_lines=unknown,
            rows=valid,
        )

    def _load(self, rows: Sequence[tuple[Any, ...]], tls: bool) -> None:
        import pyarrow as pa

        columns = _columns(tls)
        types = {"BOOLEAN": pa.bool_(), "VARCHAR": pa.string(), "BIGINT": pa.int64()}
        types["TIMESTAMP"] = pa.timestamp("us")
        arrays = [
            pa.array([row[i] for row in rows], type=types[kind])
            for i, (_, _, kind) in enumerate(columns)
        ]
        result = pa.table(arrays, names=[c[0] for c in columns])
        self.con.register("athena_arrow", result)
        self.con.execute("CREATE TABLE athena_result AS SELECT * FROM athena_arrow")
        self.con.unregister("athena_arrow")
        for name, (_, keys) in _tables(tls).items():
            picked = ", ".join([f"{name}__{key} AS {key}" for key in keys] + [_COUNTED[name]])
            self.con.execute(
                f"CREATE TABLE athena_{name} AS SELECT {picked} FROM athena_result WHERE m_{name}"
            )

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or {}).fetchall()

    def fetch_many(self, queries: Sequence[Query]) -> list[Rows]:
        return [self.fetch(sql, params) for sql, params in queries]

    def close(self) -> None:
        self.con.close()
