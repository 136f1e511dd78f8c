"""Every DuckDB connection of the tool is opened here, for one setting: no progress bar.

DuckDB draws a progress bar on stdout for a query that runs over two seconds, even when
stdout is a pipe or a file: it would corrupt the JSON or CSV a command writes there.
Progress, where we show any, goes to stderr.
"""

from __future__ import annotations

from typing import Any

import duckdb


def connect(
    database: str = ":memory:", *, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with the progress bar off (its cursors inherit the setting)."""
    con = duckdb.connect(database, read_only=read_only, config=config or {})
    con.execute("SET enable_progress_bar = false")
    return con
