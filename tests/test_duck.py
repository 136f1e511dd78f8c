"""Every connection is opened by mtls_doctor.duck: no progress bar on stdout, no
window_self_join (which made diagnose read the store twice)."""

from __future__ import annotations

import re
from pathlib import Path

from mtls_doctor import duck

SRC = Path(__file__).resolve().parent.parent / "src" / "mtls_doctor"


def test_connections_have_the_progress_bar_off() -> None:
    con = duck.connect()
    setting = "SELECT current_setting('enable_progress_bar')"
    assert con.execute(setting).fetchone() == (False,)
    assert con.cursor().execute(setting).fetchone() == (False,)  # the sides' cursors


def test_window_aggregates_read_the_table_once() -> None:
    con = duck.connect()
    con.execute("CREATE TABLE t AS SELECT i % 7 AS k, i FROM range(1000) r(i)")
    plan = con.execute("EXPLAIN SELECT k, i, max(i) OVER (PARTITION BY k) FROM t").fetchall()[0][1]
    assert plan.count("Seq Scan") == 1, plan  # not a self-join of two scans


def test_no_module_opens_duckdb_on_its_own() -> None:
    # duckdb.connect() and DuckDB's default connection (duckdb.sql, duckdb.execute, ...) would
    # draw the progress bar on stdout for a long query.
    opened = re.compile(r"\bduckdb\.(connect|sql|execute|query|read_csv|from_\w+)\(")
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if path.name != "duck.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if opened.search(line)
    ]
    assert offenders == []
