"""Moved to :mod:`mtls_doctor.knowledge.fields` (the field list is a fact of the log format,
which the code catalogue reads too). This name stays until every import is updated."""

from mtls_doctor.knowledge.fields import (
    DERIVED_COLUMNS,
    FIELD_NAMES,
    FIELDS,
    MIN_FIELDS,
    OUTPUT_COLUMNS,
    SUBJECT_POSITION,
    Field,
    LogEntry,
    format_timestamp,
    format_validity,
)

__all__ = [
    "DERIVED_COLUMNS",
    "FIELDS",
    "FIELD_NAMES",
    "MIN_FIELDS",
    "OUTPUT_COLUMNS",
    "SUBJECT_POSITION",
    "Field",
    "LogEntry",
    "format_timestamp",
    "format_validity",
]
