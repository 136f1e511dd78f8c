"""Diagnose of log files in one pass: each row counted, the few that matter kept.

Copying every row into a table and then querying it took three times as long as reading
the logs. A diagnosis needs much less than every row:
- every row, but only as counts per status and minute: for the summary, the statuses and
  the timelines (``mtls_counts``);
- the selection's failed rows, counted per code, client and certificate, for the per-code
  questions (``mtls_failed``, see ``queries.FAILURE_GROUPS``);
- which clients used each certificate that worked and expires before the horizon, and
  when last (``mtls_expiring``);
- the first malformed lines, to report them (``mtls_malformed``).

The user's filters are applied while reading, so these tables hold the selection only, and
memory grows with the distinct failing clients and certificates, not with the rows.
:func:`mtls_doctor.logs.split.run_split` fills the tables in one read of the files. The
engine asks them the same questions as it asks a store (see ``queries.COUNT_SHAPE``).

The scanner sorts each chunk's rows into failed, expiring and other ones, so each side
reads only its kind. With no filter but a time window, every row in the window is selected,
and only the failed rows are needed as rows by the counts: the scanner counts the others
itself, per status and minute (``routing.Routing``'s fold), and the other rows (status
``-``, or ``Success`` with a certificate valid past the horizon: most rows) never become
rows. With any other filter, each row must meet the SQL selection, so the main query reads
every row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtls_doctor import duck
from mtls_doctor.diagnose.queries import EXPIRING_CLIENTS, FAILURE_GROUPS, TLS_HANDSHAKES
from mtls_doctor.diagnose.source import Prepared, Query, Rows, Scope, resolve_candidates
from mtls_doctor.logs import routing as kinds
from mtls_doctor.logs.parse import PARSED_COLUMNS
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.reader import FileSet
from mtls_doctor.logs.readpolicy import MALFORMED_LOCATED, ReadStats, settle
from mtls_doctor.logs.routing import DECLINED, EXPIRING, FAILED, OTHER, Routing
from mtls_doctor.logs.split import Side, run_split
from mtls_doctor.timeutil import to_naive_utc

if TYPE_CHECKING:
    import pyarrow as pa

_STATUS = "tls_verify_status"
_CONCURRENT = 2  # questions asked at once (fetch_many)
MEMORY_LIMIT = "1GB"
# What a diagnosis reads of a row from files. The other fields (trace ids, ELB names,
# ciphers, the validity text, ...) are most of a row's size and no question reads them of
# every row. The failure groups also read ``elb`` (queries.FAILURE_GROUPS): the compiled
# path's failed side reads it of the failed rows only, the pure path keeps it for those
# (_FAILED_ELB).
_UNREAD = {
    "client_port",
    "tls_cipher",
    "tls_handshake_latency",
    "leaf_client_cert_validity",
    "conn_trace_id",
    "tls_keyexchange",
    "elb",
    "ip_address",
    "field_count",
}
KEPT_COLUMNS: tuple[str, ...] = (
    *(c for c in PARSED_COLUMNS if c not in _UNREAD),
    "has_extra_fields",
    "unknown_code",
    "error",
)
# The load balancer of a failed row only: the pure path's table holds every row.
_FAILED_ELB = "CASE WHEN verify_result = 'failed' THEN elb END AS elb"
# What the TLS handshakes table (a Scope with ``tls``) reads besides.
_TLS_COLUMNS = ("tls_cipher", "tls_keyexchange")


class ScratchTarget:
    """Prepared tables read from log files, in an in-memory database of their own, which
    DuckDB spills to disk (under the run's scratch folder) when it does not fit."""

    prepared: Prepared
    stats: ReadStats

    def __init__(self, workdir: Path) -> None:
        self.con = duck.connect()
        self.con.execute(f"SET temp_directory = '{workdir / 'spill'}'")
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        return self.con.execute(sql, params or {}).fetchall()

    def fetch_many(self, queries: Sequence[Query]) -> list[Rows]:
        """Several questions at once, each on a cursor of its own (the tables here are not
        TEMP, so cursors see them): DuckDB runs a query over a small table on one thread."""
        from concurrent.futures import ThreadPoolExecutor

        def ask(query: Query) -> Rows:
            cursor = self.con.cursor()
            try:
                return cursor.execute(*query).fetchall()
            finally:
                cursor.close()

        with ThreadPoolExecutor(max_workers=_CONCURRENT) as pool:
            return list(pool.map(ask, queries))

    def _finish(self, scope: Scope, fileset: FileSet, stats: ReadStats, strict: bool) -> None:
        """The prepared tables, and the read statistics by the one read policy."""
        self.prepared = Prepared.of_tables(
            scope,
            "(SELECT * FROM mtls_counts WHERE selected)",
            "mtls_failed",
            "mtls_expiring",
            tls="mtls_tls" if scope.tls else None,
        )
        row = self.con.execute(
            "SELECT sum(n) FILTER (malformed), sum(n) FILTER (NOT malformed AND "
            "has_extra_fields), sum(n) FILTER (NOT malformed AND unknown_code), "
            "sum(n) FILTER (NOT malformed) FROM mtls_counts"
        ).fetchone()
        assert row is not None
        malformed, extra, unknown, rows = (int(n or 0) for n in row)
        stats.malformed, stats.extra_field_lines = malformed, extra
        stats.unknown_code_lines, stats.rows = unknown, rows
        bad = self.con.execute("SELECT filename, line, error FROM mtls_malformed").fetchall()
        self.stats = stats
        settle(stats, fileset, bad, strict=strict)


class PureTarget(ScratchTarget):
    """The tables of :class:`StreamTarget`, read by DuckDB alone (no compiled scanner, or
    ``MTLS_DOCTOR_PURE=1``): the files are read once into a table of the columns asked,
    which the same queries then count."""

    def __init__(
        self, fileset: FileSet, stats: ReadStats, workdir: Path, strict: bool, scope: Scope
    ) -> None:
        super().__init__(workdir)
        kept = KEPT_COLUMNS + _TLS_COLUMNS if scope.tls else KEPT_COLUMNS
        fileset.run(
            self.con,
            lambda rel: (
                f"CREATE TEMP TABLE mtls_rows AS SELECT {', '.join(kept)}, {_FAILED_ELB}, "
                # The raw line and the file's name (a path: longer than most of a row) are
                # kept for malformed rows only, to be numbered and reported.
                "CASE WHEN error IS NOT NULL THEN filename END AS filename, "
                f"CASE WHEN error IS NOT NULL THEN line END AS line FROM {rel}"
            ),
            lambda con: None,
        )
        rows = _Rows(self)
        where, params = resolve_candidates(rows, scope.filters).where()
        params["horizon"] = scope.horizon
        for sql in (
            _counts_sql("mtls_rows", where),
            _failed_sql("mtls_rows", where),
            _expiring_sql("mtls_rows", where),
            _malformed_sql("mtls_rows"),
            *([_tls_sql("mtls_rows", where)] if scope.tls else []),
        ):
            self.con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        self.con.execute("DROP TABLE mtls_rows")
        self._finish(scope, fileset, stats, strict)


class _Rows:
    """The well-formed rows a :class:`PureTarget` read, for resolve_candidates."""

    relation = "(SELECT * FROM mtls_rows WHERE error IS NULL)"

    def __init__(self, target: ScratchTarget) -> None:
        self.fetch = target.fetch


class StreamTarget(ScratchTarget):
    """The counts, failed rows and expiring certificates of a scope, from files, read in
    one pass by the compiled scanner."""

    def __init__(
        self, fileset: FileSet, stats: ReadStats, workdir: Path, strict: bool, scope: Scope
    ) -> None:
        super().__init__(workdir)
        where, params = self._candidates(fileset, scope.filters).where()
        params["horizon"] = scope.horizon
        routing = _routing(scope)
        everything = frozenset({FAILED, EXPIRING, OTHER, DECLINED})
        main = Side(
            lambda rel: _counts_sql(rel, where),
            frozenset({FAILED, DECLINED}) if routing.fold else everything,
            reasons=False,
        )
        # A declined line may be anything: only the SQL parser can say. Only the malformed
        # lines' side says why they are malformed.
        sides = [
            Side(lambda rel: _failed_sql(rel, where), frozenset({FAILED, DECLINED}), False),
            Side(lambda rel: _expiring_sql(rel, where), frozenset({EXPIRING, DECLINED}), False),
            Side(_malformed_sql, frozenset({DECLINED})),
        ]
        if scope.tls:  # every TLS connection, so nothing is folded (see _routing)
            sides.append(Side(lambda rel: _tls_sql(rel, where), everything, False))
        folded = run_split(fileset, self.con, main, sides, params, routing)
        self._add_counts(folded)
        self._finish(scope, fileset, stats, strict)

    def _add_counts(self, folded: pa.Table) -> None:
        """The lines the scanner counted join the counts, as _counts_sql would count them:
        well-formed, of a documented status, selected unless outside the time window."""
        if not folded.num_rows:
            return
        inside = f"key & {kinds.KEY_OUTSIDE} = 0"
        self.con.register("mtls_folded", folded)
        try:
            self.con.execute(
                "INSERT INTO mtls_counts BY NAME SELECT false AS malformed, "
                f"{inside} AS selected, key & {kinds.KEY_EXTRA_FIELDS} <> 0 AS "
                f"has_extra_fields, false AS unknown_code, CASE WHEN NOT {inside} THEN NULL "
                f"WHEN key & {kinds.KEY_NOT_TLS} <> 0 THEN '-' ELSE 'Success' END AS "
                f"{_STATUS}, CASE WHEN {inside} THEN minute END AS bucket, sum(n) AS n, "
                "min(first_seen) AS first_seen, max(last_seen) AS last_seen "
                "FROM mtls_folded GROUP BY key, minute"
            )
        finally:
            self.con.unregister("mtls_folded")

    def _candidates(self, fileset: FileSet, filters: Filters) -> Filters:
        """An IPv6 block is matched in Python against the addresses of the data (read once
        more: such a filter is rare, and the selection must be known while reading)."""
        if not filters.needs_candidates():
            return filters
        faults = list(fileset.faults)  # the one pass reports them: not twice
        rows = fileset.run(
            self.con,
            lambda rel: (
                f"SELECT DISTINCT client_ip FROM {rel} "
                "WHERE error IS NULL AND contains(client_ip, ':')"
            ),
            lambda con: con.fetchall(),
        )
        fileset.faults[:] = faults
        return filters.with_candidates([str(r[0]) for r in rows])


def _routing(scope: Scope) -> Routing:
    """With no filter but a time window (the usual first look at an incident), every row in
    the window is selected, so most are needed only as counts, which the scanner makes
    itself: the main query then counts only the failed and declined ones."""
    filters = scope.filters
    window_only = dataclasses.replace(filters, since=None, until=None) == Filters()
    # The TLS handshakes table needs the TLS fields of every connection, which a folded line
    # (counted by the scanner, never a row) does not keep.
    if not window_only or scope.tls:
        return Routing(scope.horizon)
    since, until = (None if t is None else to_naive_utc(t) for t in (filters.since, filters.until))
    return Routing(scope.horizon, fold=True, since=since, until=until)


def _counts_sql(rel: str, where: str) -> str:
    # Rows outside the selection are counted too (the line statistics cover every line),
    # in a group of their own.
    return f"""CREATE TABLE mtls_counts AS
SELECT error IS NOT NULL AS malformed, selected, has_extra_fields, unknown_code,
       CASE WHEN selected THEN {_STATUS} END AS {_STATUS},
       CASE WHEN selected THEN date_trunc('minute', timestamp) END AS bucket,
       count(*) AS n, min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM (SELECT *, coalesce(error IS NULL AND ({where}), false) AS selected FROM {rel})
GROUP BY ALL"""


def _failed_sql(rel: str, where: str) -> str:
    return "CREATE TABLE mtls_failed AS " + FAILURE_GROUPS.format(
        rel=rel, where=f"error IS NULL AND ({where})"
    )


def _tls_sql(rel: str, where: str) -> str:
    return "CREATE TABLE mtls_tls AS " + TLS_HANDSHAKES.format(
        rel=rel, where=f"error IS NULL AND ({where})"
    )


def _malformed_sql(rel: str) -> str:
    # Only lines the scanner declined can be malformed; the first few are kept, to be
    # numbered and reported (the counts have them all).
    return f"""CREATE TABLE mtls_malformed AS
SELECT filename, line, error FROM {rel} WHERE error IS NOT NULL LIMIT {MALFORMED_LOCATED}"""


def _expiring_sql(rel: str, where: str) -> str:
    # Grouped per client already: diagnose asks for distinct clients and the last time.
    return "CREATE TABLE mtls_expiring AS " + EXPIRING_CLIENTS.format(
        rel=rel, where=f"error IS NULL AND ({where})"
    )
