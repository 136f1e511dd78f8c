"""What every command writes: tabular rows on stdout, the reading summary on stderr.

The one place that picks a tabular renderer, so ``logs query``, ``sql`` and the Athena engine
render rows the same way and share the same stdout rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from mtls_doctor.cli._base import info, warn
from mtls_doctor.logs.api import ReadStats
from mtls_doctor.report.tabular import iter_csv, iter_json_array, iter_jsonl, render_table

TABLE_COLUMNS = (
    "timestamp",
    "client_ip",
    "listener_port",
    "tls_protocol",
    "leaf_client_cert_subject",
    "leaf_client_cert_serial_number",
    "tls_verify_status",
)
TABLE_ROW_LIMIT = 10_000


def report_stats(stats: ReadStats, max_lines: int = 20) -> None:
    """The human summary of what reading found, on stderr."""
    for name in stats.skipped_unknown[:max_lines]:
        warn(f"{name}: not a connection-log name (conn_log_...); skipped")
    if len(stats.skipped_unknown) > max_lines:
        warn(f"... and {len(stats.skipped_unknown) - max_lines} more files skipped")
    for fault in stats.faults:
        if fault.complete:
            warn(f"{fault.file}: {fault.message}; all {fault.lines_read} lines read")
        else:
            warn(f"{fault.file}: {fault.message}; read {fault.lines_read} lines before the fault")
    for issue in stats.issues[:max_lines]:
        where = f"{issue.file}:{issue.line}" if issue.line else issue.file
        warn(f"{where}: malformed line skipped: {issue.message}")
    if stats.malformed:
        info(f"{stats.malformed} malformed line(s) skipped")
    if stats.extra_field_lines:
        info(
            f"{stats.extra_field_lines} line(s) had more than 15 fields (newer format); "
            "the extra fields were ignored"
        )
    if stats.unknown_code_lines:
        info(f"{stats.unknown_code_lines} line(s) carry a Failed: code that is not documented")


def write(chunks: Iterable[str]) -> None:
    """Write rendered chunks to stdout as they come."""
    for chunk in chunks:
        click.echo(chunk, nl=False)


def emit(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> None:
    """Write rows to stdout in ``fmt`` (the one place that picks a tabular renderer)."""
    if fmt == "jsonl":
        write(iter_jsonl(rows))
    elif fmt == "json":
        write(iter_json_array(rows))
    elif fmt == "csv":
        write(iter_csv(rows, columns))
    else:
        listed = []
        for row in rows:
            listed.append(row)
            if len(listed) >= TABLE_ROW_LIMIT:
                warn(f"table output stops at {TABLE_ROW_LIMIT} rows; use --format csv or jsonl")
                break
        if listed:  # no rows: stderr says why; a header alone would read as a result
            write([render_table(listed, columns)])


__all__ = ["TABLE_COLUMNS", "TABLE_ROW_LIMIT", "emit", "report_stats", "write"]
