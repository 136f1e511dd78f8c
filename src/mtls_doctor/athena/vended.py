"""Athena tables over *vended* connection logs (CloudWatch Logs delivery to S3, JSON or Parquet).

An ALB set up from its Integrations tab delivers ``ALB_CONNECTION_LOGS`` records to S3 as
JSON lines or Parquet (spec §2), with the documented record fields as keys: the legacy
field names, ``time`` for field 1. :func:`create_table_sql` writes a table over them with
partition projection over the Hive-style day folders, and :func:`normalised_sql` turns its
rows into the *legacy* table's columns, as the RegexSerDe gives them for the equivalent
line (``-`` for an empty value, the subject without quotes, ports ``int`` and the latency
``double``). :mod:`.dialect` reads that relation where it reads the legacy table, so the one
query of a diagnosis (:mod:`.prepare`) and ``logs query`` ask a vended table the same SQL.

UNCONFIRMED (spec §2.5/§2.6), hence settings and not constants:

- the key layout: AWS's worked example is for ALB *access* logs,
  ``AWSLogs/aws-account-id=ACCOUNT/elasticloadbalancing/region=REGION/year=YYYY/month=MM/day=DD/``;
  the connection-log path and object names are not documented. The table's LOCATION is the
  folder above the day folders and the day folders are :data:`DEFAULT_DAY_PATH`, both given
  by the user. No object-name filter is applied (names unknown): records of other log types
  in the same folders are dropped by content instead (no ``tls_verify_status`` and no
  ``client_ip``, as the local reader does);
- the value types: JSON columns are all ``string`` (the OpenX SerDe reads a number into a
  string column as its text, so strings and numbers both read); Parquet columns default to
  the legacy table's types (ports ``int``, latency ``double``, the rest ``string``), and
  ``column_types`` overrides them, since a Parquet column must be declared with its type
  (``time`` may be a ``timestamp``: its text is turned into the ALB form);
- whether the day folders hold the delivery date (as the legacy ones do): the same day of
  margin is kept on each side of ``--since``/``--until``.

A row reads as the local reader reads the same record; the reference is
:mod:`mtls_doctor.logs.vended.lines` (one rule each):

- a number in ``time`` is seconds since the epoch, or milliseconds or microseconds when too
  large to be seconds (:func:`_epoch`; Athena keeps milliseconds of it);
- a ``"`` in the DN is written ``\\22`` (:func:`_subject`), a line end in any value
  ``\\0A``/``\\0D`` (:func:`_text`);
- ``extra_field_lines`` is 0: a record has no field after the 15th, nor has its local line;
- NOT matched: a JSON ``{}`` (no field at all) is skipped locally but counted unreadable
  here. The OpenX SerDe reads a record it cannot parse as ``{}`` (``ignore.malformed.json``),
  so the two cannot be told apart in the table, and dropping both would hide truncated
  records; ``{}`` is not a record AWS is known to write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from mtls_doctor.athena.ddl import (
    DEFAULT_DATABASE,
    DEFAULT_TABLE,
    EXTRA_COLUMN,
    TablePlace,
    TableSpec,
    column_name,
)
from mtls_doctor.athena.ddl import create_table_sql as legacy_table_sql
from mtls_doctor.errors import InputError, UsageError
from mtls_doctor.knowledge.fields import (
    FIELDS,
    SUBJECT_POSITION,
    VENDED_FIELD_NAMES,
    VENDED_KEY_FIELDS,
    VENDED_SYNONYMS,
)

KINDS = ("legacy", "json", "parquet")
VENDED_KINDS = ("json", "parquet")
DEFAULT_TABLES = {"json": "alb_connection_logs_json", "parquet": "alb_connection_logs_parquet"}
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
# The Hive-compatible day folders of a V2 delivery (spec §2.6, AWS's access-log example).
DEFAULT_DAY_PATH = "year=${year}/month=${month}/day=${day}/"
KIND_PROPERTY = "mtls_doctor.table_kind"
START_PROPERTY = "mtls_doctor.projection_start"
# `timestamp` is accepted as a synonym of `time` (issue #17); a JSON key only.
(SYNONYM,) = (k for k, v in VENDED_SYNONYMS.items() if v == "time")
_SUBJECT = VENDED_FIELD_NAMES[SUBJECT_POSITION - 1]
PARQUET_TYPES = ("string", "int", "bigint", "double", "timestamp")
_LEGACY_TYPES = {"INTEGER": "int", "DOUBLE": "double"}
_CAST = {"int": "INTEGER", "double": "DOUBLE"}  # what the legacy table's column is
# A number as Athena writes it in a string column (Java's text of a double: 1.7123184E9).
_NUMBER = "^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$"


def field_columns() -> tuple[str, ...]:
    """The record fields, in log order (``time`` for field 1)."""
    return VENDED_FIELD_NAMES


def legacy_type(name: str) -> str:
    """The legacy table's Hive type of column ``name`` (``int``, ``double`` or ``string``)."""
    for f in FIELDS:
        if column_name(f.name) == name:
            return _LEGACY_TYPES.get(f.sql_type, "string")
    raise KeyError(name)


def parse_column_types(pairs: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``{field: type}`` overrides for a Parquet table, checked."""
    names = field_columns()
    out = []
    for name, kind in pairs.items():
        if name not in names:
            raise UsageError(
                f"--column-type: {name!r} is not a record field", hint=", ".join(names)
            )
        if kind not in PARQUET_TYPES or (kind == "timestamp" and name != "time"):
            raise UsageError(
                f"--column-type {name}={kind}: not a supported type",
                hint=f"One of {', '.join(PARQUET_TYPES[:-1])}; time may also be a timestamp.",
            )
        out.append((name, kind))
    return tuple(out)


def check_location(location: str) -> str:
    """An ``s3://bucket/folder/`` above the day folders (layout UNCONFIRMED: not checked)."""
    pattern = r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/(?:[^'\\$\s]+/)?"
    if not re.fullmatch(pattern, location if location.endswith("/") else location + "/"):
        raise InputError(
            f"{location!r} is not an S3 folder",
            hint="e.g. s3://BUCKET/AWSLogs/aws-account-id=123456789012/elasticloadbalancing/"
            "region=eu-west-1/",
        )
    return location


def check_day_path(day_path: str) -> str:
    """The day folders under LOCATION: ``${year}``, ``${month}``, ``${day}`` each once."""
    placeholders = re.findall(r"\$\{([a-z]+)\}", day_path)
    rest = re.sub(r"\$\{[a-z]+\}", "", day_path)
    if sorted(placeholders) != ["day", "month", "year"] or re.search(r"['\\$\s]", rest):
        raise UsageError(
            f"--day-path {day_path!r} must hold ${{year}}, ${{month}} and ${{day}} once each",
            hint=f"e.g. {DEFAULT_DAY_PATH} or ${{year}}/${{month}}/${{day}}/",
        )
    return day_path if day_path.endswith("/") else day_path + "/"


def day_format(day_path: str) -> str:
    """The strftime pattern of a day folder (for the scan estimate's S3 listing)."""
    return (
        day_path.replace("%", "%%")
        .replace("${year}", "%Y")
        .replace("${month}", "%m")
        .replace("${day}", "%d")
    )


@dataclass(frozen=True)
class VendedTableSpec(TablePlace):
    """A table over one account's and region's vended deliveries in S3."""

    location: str  # the folder above the day folders
    kind: str = "json"
    database: str = DEFAULT_DATABASE
    table: str = ""
    projection_start: date = date(2026, 7, 1)  # vended ALB logs exist since 2026-07-23
    day_path: str = DEFAULT_DAY_PATH
    column_types: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in VENDED_KINDS:
            raise InputError(
                f"{self.kind!r} is not a vended table kind ({', '.join(VENDED_KINDS)})"
            )
        if self.column_types and self.kind != "parquet":
            raise UsageError("--column-type is for Parquet tables (JSON columns are strings)")
        if not self.table:
            object.__setattr__(self, "table", DEFAULT_TABLES[self.kind])
        self.check_names()
        check_location(self.location)
        object.__setattr__(self, "day_path", check_day_path(self.day_path))

    def columns(self) -> tuple[tuple[str, str], ...]:
        """``(name, Hive type)`` of every column of the table (partitions excluded)."""
        if self.kind == "json":
            return (*((n, "string") for n in field_columns()), (SYNONYM, "string"))
        overrides = dict(self.column_types)
        return tuple((n, overrides.get(n, legacy_type(n))) for n in field_columns())

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "kind": self.kind,
            "database": self.database,
            "table": self.table,
            "location": self.base,
            "day_path": self.day_path,
            "projection_start": self.projection_start.isoformat(),
            "columns": dict(self.columns()),
        }


def create_table_sql(spec: VendedTableSpec) -> str:
    """``CREATE EXTERNAL TABLE`` with partition projection over year, month and day."""
    cols = ",\n".join(f"  `{name}` {kind}" for name, kind in spec.columns())
    if spec.kind == "json":
        # A record Athena cannot parse reads as a row of NULLs instead of failing the query;
        # normalised_sql counts such a row as unreadable.
        storage = (
            f"ROW FORMAT SERDE '{JSON_SERDE}'\n"
            "WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')"
        )
    else:
        storage = "STORED AS PARQUET"
    # The year is a date projection (its range can end at NOW), month and day zero-padded
    # integers; a day that does not exist (02/30) is an empty folder. UNCONFIRMED: checked
    # against Athena's documented projection properties, not run on Athena here.
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS `{spec.database}`.`{spec.table}` (
{cols}
)
PARTITIONED BY (`year` string, `month` string, `day` string)
{storage}
LOCATION '{spec.base}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.year.type' = 'date',
  'projection.year.format' = 'yyyy',
  'projection.year.range' = '{spec.projection_start.year},NOW',
  'projection.year.interval' = '1',
  'projection.year.interval.unit' = 'YEARS',
  'projection.month.type' = 'integer',
  'projection.month.range' = '1,12',
  'projection.month.digits' = '2',
  'projection.day.type' = 'integer',
  'projection.day.range' = '1,31',
  'projection.day.digits' = '2',
  'storage.location.template' = '{spec.base}{spec.day_path}',
  '{KIND_PROPERTY}' = '{spec.kind}',
  '{START_PROPERTY}' = '{spec.projection_start.isoformat()}'
)"""


def table_spec(
    location: str,
    kind: str,
    database: str = DEFAULT_DATABASE,
    table: str | None = None,
    start: date | None = None,
    day_path: str = DEFAULT_DAY_PATH,
    column_types: Mapping[str, str] | None = None,
) -> TableSpec | VendedTableSpec:
    """The table of ``kind`` (``athena ddl``/``setup``): legacy or vended."""
    if kind == "legacy":
        if column_types or day_path != DEFAULT_DAY_PATH:
            raise UsageError("--day-path and --column-type go with --kind json or parquet")
        return TableSpec(location, database, table or DEFAULT_TABLE, start or date(2023, 1, 1))
    return VendedTableSpec(
        location,
        kind,
        database,
        table or "",
        start or VendedTableSpec.projection_start,
        day_path,
        parse_column_types(column_types or {}),
    )


def any_table_sql(spec: TableSpec | VendedTableSpec) -> str:
    """``CREATE EXTERNAL TABLE`` of either kind of table."""
    if isinstance(spec, VendedTableSpec):
        return create_table_sql(spec)
    return legacy_table_sql(spec)


def kind_of(parameters: Mapping[str, str]) -> str | None:
    """The kind of a table from its metadata (GetTableMetadata ``Parameters``): our own
    property first, else the SerDe or input format; None when it cannot be told."""
    marked = parameters.get(KIND_PROPERTY)
    if marked in KINDS:
        return marked
    serde = " ".join(
        str(parameters.get(k, ""))
        for k in ("serde.serialization.lib", "inputformat", "serialization.lib")
    ).lower()
    if "jsonserde" in serde:
        return "json"
    if "parquet" in serde:
        return "parquet"
    if "regexserde" in serde:
        return "legacy"
    return None


def _text(column: str) -> str:
    """A field as the legacy line's token: empty (null, ``""``, ``-``) is ``-``; a line end
    in it as ``\\0A``/``\\0D``, as lines.py writes it (it cannot split a row here, but the
    value must read the same)."""
    value = f"nullif(nullif(CAST({column} AS VARCHAR), ''), '-')"
    value = f"replace(replace({value}, chr(10), '\\0A'), chr(13), '\\0D')"
    return f"coalesce({value}, '-')"


def _subject(column: str) -> str:
    """The DN as lines.py quotes it: a ``"`` in it (bare or RFC 4514's ``\\"``) as ``\\22``."""
    return f"""replace(replace({_text(column)}, '\\"', '\\22'), '"', '\\22')"""


def _time(kind: str) -> str:
    """``time`` as the ALB writes it. A timestamp column reads as ``2024-04-05 12:00:00.123``
    (no ``T``, no ``Z``; Athena keeps milliseconds of a Parquet timestamp): that text is put in
    the ALB form. A number is seconds since the epoch, or milliseconds or microseconds when
    too large to be seconds (lines.py's ``_epoch_text``). The ALB's own text is kept as it is."""
    raw = f'coalesce("time", "{SYNONYM}")' if kind == "json" else '"time"'
    text = f"CAST({raw} AS VARCHAR)"
    plain = "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?$"
    return (
        f"CASE WHEN regexp_matches({text}, '{plain}') "
        f"THEN replace({text}, ' ', 'T') || 'Z' "
        f"WHEN regexp_matches({text}, '{_NUMBER}') THEN {_epoch(text)} "
        f"ELSE {_text(raw)} END"
    )


def _epoch(text: str) -> str:
    """A number's text as the ALB time. Trino's from_unixtime gives a timestamp in the
    session's zone (UTC on Athena) to the millisecond: a microsecond epoch loses its last
    three digits here (UNCONFIRMED that AWS writes any epoch, spec §2.2). Out of range (beyond
    year 9999 in microseconds, as lines.py bounds it): the number stays, a malformed time."""
    value = f"TRY_CAST({text} AS DOUBLE)"
    size = f"abs({value})"
    seconds = (
        f"CASE WHEN {size} < 1e11 THEN {value} "
        f"WHEN {size} < 1e14 THEN {value} / 1e3 ELSE {value} / 1e6 END"
    )
    stamp = f"strftime(to_timestamp({seconds}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    return f"CASE WHEN {size} < 2.5e17 THEN {stamp} ELSE {text} END"


def _value(name: str, kind: str) -> str:
    quoted = f'"{name}"'
    if name == "time":
        return _time(kind)
    legacy = legacy_type(name)
    if name == _SUBJECT:
        return _subject(quoted)
    if legacy == "string":
        return _text(quoted)
    # The legacy table reads '-' (or a value that is not a number) as NULL in these columns.
    return f"TRY_CAST(nullif({_text(quoted)}, '-') AS {_CAST[legacy]})"


def normalised_sql(
    table: str, kind: str, first: date | None = None, last: date | None = None
) -> str:
    """The vended table's rows as the legacy table's columns, plus ``day`` (``yyyy/MM/dd``)
    and ``"$path"``: records of other log types left out (DuckDB text; see :mod:`.dialect`)."""
    cols = ",\n    ".join(f'{_value(name, kind)} AS "{name}"' for name in field_columns())
    keep = "(" + " OR ".join(f"{k} IS NOT NULL" for k in VENDED_KEY_FIELDS) + ")"
    if kind == "json":
        # The SerDe reads a record it cannot parse as all NULLs: an unreadable line.
        every = [f'"{n}"' for n in (*field_columns(), SYNONYM)]
        keep = f"({keep} OR coalesce({', '.join(every)}) IS NULL)"
    # Coarse bounds on the year partition, for Athena to prune; the day range is exact
    # in dialect.derived_sql (on the `day` made here).
    years = []
    if first is not None:
        years.append(f"year >= '{first.year:04d}'")
    if last is not None:
        years.append(f"year <= '{last.year:04d}'")
    where = " AND ".join([keep, *years])
    return f"""SELECT
    {cols},
    CAST(NULL AS VARCHAR) AS {EXTRA_COLUMN},
    concat(year, '/', month, '/', day) AS day,
    "$path"
  FROM {table}
  WHERE {where}"""
