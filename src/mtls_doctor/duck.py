"""Every DuckDB connection of the tool is opened here, for two settings.

- No progress bar: DuckDB draws one on stdout for a query that runs over two seconds, even
  when stdout is a pipe or a file, which would corrupt the JSON or CSV a command writes
  there. Progress, where we show any, goes to stderr.
- No ``window_self_join`` optimizer: it turns a window aggregate over a partition into a
  self-join, so diagnose's expiry query read the store twice (0.23 s instead of 0.12 s on
  2M rows). Where a DuckDB version has no such optimizer, the setting is skipped.
"""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb


def connect(
    database: str = ":memory:", *, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with those settings (its cursors inherit them)."""
    con = duckdb.connect(database, read_only=read_only, config=config or {})
    con.execute("SET enable_progress_bar = false")
    with contextlib.suppress(duckdb.Error):
        con.execute("SET disabled_optimizers = 'window_self_join'")
    return con
