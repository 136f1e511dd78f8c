"""The Athena table for ALB connection logs: all 15 fields, partition projection by day.

Compared with the AWS table (spec §5.1/§5.2) this one

- exposes fields 13-15 (``tls_keyexchange``, ``elb``, ``ip_address``) as optional groups, so
  12- and 13-field lines from older logs still match, and keeps whatever AWS appends later
  in an ``extra_fields`` column instead of failing the line (spec §1.4: new fields come at
  the end);
- anchors field 1 to the ALB's timestamp shape, so an access-log line (which starts with its
  request type, e.g. ``https``) never matches and reads as an all-NULL row;
- keeps the AWS column types for the ports (``int``) and the latency (``double``) so the AWS
  example queries work unchanged.

Access-log *objects* under the same prefix are kept out by the ``$path`` filter that
:mod:`mtls_doctor.athena.dialect` puts on every query (Athena has no table property that
filters object names); giving connection logs their own prefix is still the cheaper fix,
because Athena may read the other objects before the filter drops their rows.

Hive's ``RegexSerDe`` needs a whole-line match (Java ``Matcher.matches()``) and maps capture
groups to columns one to one; only non-capturing ``(?:...)`` groups may be added. The regex
avoids backslashes so that it reads the same inside the Hive string literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from mtls_doctor.aws.athena import DAY_FORMAT
from mtls_doctor.errors import InputError
from mtls_doctor.knowledge.fields import FIELDS

DEFAULT_DATABASE = "mtls_doctor"
DEFAULT_TABLE = "alb_connection_logs"

# Athena (Hive DDL) types. The AWS table names field 1 `time`; the rest keep their AWS names.
_ATHENA_TYPES = {"INTEGER": "int", "DOUBLE": "double", "VARCHAR": "string", "TIMESTAMP": "string"}
EXTRA_COLUMN = "extra_fields"

_TOKEN = '([^ "]+)'
# One group per field, in fields.py order; the subject is the only quoted field.
_FIELD_GROUPS: dict[str, str] = {
    "timestamp": "([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]{1,6})?Z)",
    "client_port": "([0-9]{1,9})",
    "listener_port": "([0-9]{1,9})",
    "tls_handshake_latency": "(-|[0-9]+(?:[.][0-9]+)?)",
    "leaf_client_cert_subject": '"([^"]*)"',
}
_REQUIRED = 12  # fields 1-12 are in every version of the format (fields.MIN_FIELDS)


def column_name(field_name: str) -> str:
    """The Athena column of a field (AWS calls field 1 ``time``)."""
    return "time" if field_name == "timestamp" else field_name


def columns() -> tuple[tuple[str, str], ...]:
    """``(name, Hive type)`` of every column, in regex-group order."""
    cols = tuple((column_name(f.name), _ATHENA_TYPES[f.sql_type]) for f in FIELDS)
    return (*cols, (EXTRA_COLUMN, "string"))


def input_regex() -> str:
    """The ``input.regex``: 12 required fields, 3 optional ones, then anything AWS appends."""
    groups = [_FIELD_GROUPS.get(f.name, _TOKEN) for f in FIELDS]
    required = " ".join(groups[:_REQUIRED])
    optional = "".join(f"(?: {g})?" for g in groups[_REQUIRED:])
    return f"{required}{optional}( .*)?"


def hive_string(text: str) -> str:
    """A single-quoted Hive string literal (quotes escaped with a backslash, as AWS writes)."""
    if "\\" in text:
        raise ValueError("backslashes would be unescaped by Hive; keep them out of the text")
    return "'" + text.replace("'", "\\'").replace('"', '\\"') + "'"


def _identifier(name: str, what: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,254}", name):
        raise InputError(
            f"{what} {name!r} is not a valid Athena name",
            hint="Use lower-case letters, digits and underscores (e.g. alb_connection_logs).",
        )
    return name


class TablePlace:
    """Where a table is and which S3 folder it reads: what every table spec shares."""

    location: str
    database: str
    table: str

    def check_names(self) -> None:
        _identifier(self.database, "database")
        _identifier(self.table, "table")

    @property
    def qualified(self) -> str:
        return f'"{self.database}"."{self.table}"'

    @property
    def base(self) -> str:
        return self.location if self.location.endswith("/") else self.location + "/"


@dataclass(frozen=True)
class TableSpec(TablePlace):
    """Where the table lives and what it reads."""

    location: str  # s3://bucket[/prefix]/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/
    database: str = DEFAULT_DATABASE
    table: str = DEFAULT_TABLE
    projection_start: date = date(2023, 1, 1)

    def __post_init__(self) -> None:
        self.check_names()
        check_location(self.location)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "database": self.database,
            "table": self.table,
            "location": self.base,
            "projection_start": self.projection_start.isoformat(),
        }


def check_location(location: str) -> str:
    """The folder that holds the ``yyyy/mm/dd`` folders of one account and region."""
    pattern = r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/(?:.+/)?AWSLogs/[0-9]{12}/elasticloadbalancing/[a-z0-9-]+/?"
    if "\\" in location or "'" in location or not re.fullmatch(pattern, location):
        raise InputError(
            f"{location!r} is not the log folder of one account and region",
            hint="e.g. s3://BUCKET/PREFIX/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
        )
    return location


class _InDatabase(Protocol):
    @property
    def database(self) -> str: ...


def create_database_sql(spec: _InDatabase) -> str:
    return f"CREATE DATABASE IF NOT EXISTS `{spec.database}`"


def create_table_sql(spec: TableSpec) -> str:
    """``CREATE EXTERNAL TABLE`` with partition projection over the day folders."""
    cols = ",\n".join(f"  `{name}` {kind}" for name, kind in columns())
    start = spec.projection_start.strftime(DAY_FORMAT)
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS `{spec.database}`.`{spec.table}` (
{cols}
)
PARTITIONED BY (`day` string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'
WITH SERDEPROPERTIES (
  'serialization.format' = '1',
  'input.regex' = {hive_string(input_regex())}
)
LOCATION '{spec.base}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.range' = '{start},NOW',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '{spec.base}${{day}}'
)"""
