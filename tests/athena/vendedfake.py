"""Vended deliveries for the Athena stand-in (:mod:`tests.athena.fakeathena`).

The legacy corpus is rewritten as vended records (the documented record fields; strings, or
typed values with nulls and missing keys), then loaded as Athena would read them into the
columns of the table that :mod:`mtls_doctor.athena.vended` declares:

- JSON: the OpenX SerDe puts a value in a ``string`` column as its text (a number as Java
  writes it), a missing key or null as NULL, and with ``ignore.malformed.json`` a record it
  cannot parse as a row of NULLs;
- Parquet: real files written with pyarrow in ``year=/month=/day=`` folders, read back by
  DuckDB by column name (a column a file lacks is NULL), as Athena maps Parquet columns.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor.athena.vended import VendedTableSpec, field_columns

VENDED_LOCATION = (
    "s3://logs-bucket/AWSLogs/aws-account-id=123456789012/elasticloadbalancing/region=us-east-1/"
)
_LINE = re.compile(r'^(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) "([^"]*)" (.*)$')
_INT = {"client_port", "listener_port"}
# Other log types delivered to the same folders: no tls_verify_status, no client_ip.
ACCESS_RECORD = {"type": "https", "time": "2024-04-05T12:00:00.000000Z", "client_port": 4000}
HEALTH_RECORD = {"type": "http", "time": "2024-04-05T12:00:01.000000Z", "status": "PASS"}


def record(line: str, *, typed: bool, index: int = 0) -> dict[str, Any] | None:
    """The vended record of a legacy line (fields 1-15; anything after is dropped), or None
    when the line does not have the legacy shape. ``typed``: ports and the latency as
    numbers, and an empty value alternately null and a missing key."""
    match = _LINE.match(line)
    if match is None:
        return None
    values = [*match.groups()[:8], *match.group(9).split(" ")][:15]
    out: dict[str, Any] = {}
    for n, (name, value) in enumerate(zip(field_columns(), values, strict=False)):
        if not typed:
            out[name] = value
        elif value == "-":
            if (index + n) % 2:
                out[name] = None
        elif name in _INT:
            out[name] = int(value)
        elif name == "tls_handshake_latency":
            out[name] = float(value)
        else:
            out[name] = value
    return out


def json_lines(lines: list[str], *, typed: bool) -> list[str]:
    """JSON lines for legacy lines; a line of another shape becomes a truncated record."""
    out = []
    for i, line in enumerate(lines):
        rec = record(line, typed=typed, index=i)
        out.append(json.dumps(rec) if rec is not None else '{"time": "' + line[:27] + '", "cl')
    return [*out, json.dumps(ACCESS_RECORD), json.dumps(HEALTH_RECORD)]


def _java_text(value: Any) -> str:
    """A JSON scalar in a string column, as the SerDe's Java objects print it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            mantissa, exponent = f"{value:E}".split("E")
            return f"{float(mantissa)!r}E{int(exponent)}"
        return repr(value)
    return str(value)


def _create(con: duckdb.DuckDBPyConnection, spec: VendedTableSpec) -> None:
    types = {
        "string": "VARCHAR",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "double": "DOUBLE",
        "timestamp": "TIMESTAMP",
    }
    cols = ", ".join(f'"{n}" {types[k]}' for n, k in spec.columns())
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.database}")
    con.execute(
        f"CREATE TABLE {spec.qualified} ({cols}, year VARCHAR, month VARCHAR, day VARCHAR, "
        '"$path" VARCHAR)'
    )


def _folders(key: str) -> tuple[str, str, str]:
    """``yyyy/mm/dd/name`` (the corpus's keys) -> the Hive partition values."""
    year, month, day = key.split("/")[:3]
    return year, month, day


def object_key(key: str, suffix: str) -> str:
    year, month, day = _folders(key)
    name = key.rsplit("/", 1)[1].split(".", 1)[0]
    return f"year={year}/month={month}/day={day}/{name}.{suffix}"


def load_json_table(
    con: duckdb.DuckDBPyConnection, spec: VendedTableSpec, objects: dict[str, list[str]]
) -> None:
    """``objects``: corpus key (``yyyy/mm/dd/name``) -> its JSON lines."""
    _create(con, spec)
    names = [n for n, _ in spec.columns()]
    rows = []
    for key, lines in objects.items():
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = {}
            cells = [rec.get(n) for n in names]
            rows.append(
                (
                    *(None if v is None else _java_text(v) for v in cells),
                    *_folders(key),
                    spec.base + object_key(key, "json.gz"),
                )
            )
    marks = ", ".join("?" for _ in range(len(names) + 4))
    con.executemany(f"INSERT INTO {spec.qualified} VALUES ({marks})", rows)


def write_parquet(
    folder: Path, spec: VendedTableSpec, objects: dict[str, list[dict[str, Any]]]
) -> list[Path]:
    """One Parquet file per corpus key, typed as the table declares its columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = {
        "string": pa.string(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("us"),
    }
    schema = pa.schema([(n, arrow[k]) for n, k in spec.columns()])
    stamped = dict(spec.columns()).get("time") == "timestamp"
    paths = []
    for key, records in objects.items():
        if stamped:
            records = [{**r, "time": _instant(r.get("time"))} for r in records]
        path = folder / object_key(key, "parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
        paths.append(path)
    return paths


def _instant(text: str | None) -> datetime | None:
    if not text or text == "-":
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def load_parquet_table(con: duckdb.DuckDBPyConnection, spec: VendedTableSpec, folder: Path) -> None:
    _create(con, spec)
    names = ", ".join(f'"{n}"' for n, _ in spec.columns())
    con.execute(
        f"INSERT INTO {spec.qualified} SELECT {names}, year, month, day, "
        f"'{spec.base}' || replace(filename, '{folder}/', '') "
        f"FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true, "
        "hive_types_autocast = false, union_by_name = true, filename = true)"
    )


def parquet_records(lines: list[str]) -> list[dict[str, Any]]:
    """Typed records; a line of another shape becomes a record with no ports (unreadable)."""
    out = []
    for i, line in enumerate(lines):
        rec = record(line, typed=True, index=i)
        out.append(rec if rec is not None else {"time": line[:27], "tls_verify_status": "-"})
    # A record of another log type (no client_ip, no tls_verify_status) is left out.
    return [*out, {"time": ACCESS_RECORD["time"], "client_port": 4000}]
