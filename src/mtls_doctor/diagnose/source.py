"""What a log source gives diagnose: the same prepared tables, whatever it reads.

Every source (files through the compiled scanner, files through the pure-Python path, a
store, Athena) reads the selection of one :class:`Scope` once, into three tables:

- ``counts``: the selection's rows counted per status and minute (``queries.STATUS_MINUTES``,
  with ``verify_result`` and ``error_code`` derived from the status);
- ``failures``: its failed rows counted per code, client and certificate
  (``queries.FAILURE_GROUPS``);
- ``expiring``: who used each certificate that worked and expires before the horizon, and
  when last (``queries.EXPIRING_CLIENTS``).

Diagnose, the report, the dashboard and the support bundle ask their questions of these
tables only (see :mod:`.engine` and :mod:`.overview`), so every source answers alike. A
source says what it provides by being a :class:`Source`: nothing is guessed at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from mtls_doctor.diagnose import queries as q
from mtls_doctor.logs.parse import error_code_sql, verify_result_sql
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.readpolicy import ReadStats
from mtls_doctor.timeutil import to_naive_utc

Query = tuple[str, dict[str, Any]]
Rows = list[tuple[Any, ...]]


def expiry_horizon(now: datetime, warn_days: int) -> datetime:
    """Certificates that worked and expire before this (naive UTC) are warned about."""
    return to_naive_utc(now) + timedelta(days=warn_days)


@dataclass(frozen=True)
class Scope:
    """What one diagnosis will ask, known before the logs are read: the selection and the
    expiry horizon. Given it, a source reads its logs once, into just what is asked."""

    filters: Filters
    horizon: datetime
    # Also the TLS handshakes (queries.TLS_HANDSHAKES): every TLS connection, not only the
    # failed and expiring ones, so a source reads more for it; only the policy questions ask.
    tls: bool = False

    @classmethod
    def of(
        cls, filters: Filters, now: datetime, warn_days: int = 30, *, tls: bool = False
    ) -> Scope:
        return cls(filters, expiry_horizon(now, warn_days), tls)


def counts_relation(table: str) -> str:
    """The ``counts`` relation over a table of ``STATUS_MINUTES`` rows."""
    status = "tls_verify_status"
    return (
        f"(SELECT *, {verify_result_sql(status)} AS verify_result, "
        f"{error_code_sql(status)} AS error_code FROM {table})"
    )


def expiring_relation(table: str) -> str:
    """The ``expiring`` relation over a table of ``EXPIRING_CLIENTS`` rows."""
    return f"(SELECT *, 'success' AS verify_result FROM {table})"


@dataclass(frozen=True)
class Prepared:
    """The relations a source read for one :class:`Scope` (see the module's docstring).

    ``shape`` says how their rows count (``queries.COUNT_SHAPE``: a row stands for ``n``
    connections). :class:`RowsSource`, the tests' reference, names plain rows in all three
    instead, with ``queries.ROW_SHAPE`` and the selection's ``where`` and ``params``.
    """

    scope: Scope
    counts: str
    failures: str
    expiring: str
    shape: Mapping[str, str] = field(default_factory=lambda: dict(q.COUNT_SHAPE))
    where: str = "true"
    params: Mapping[str, Any] = field(default_factory=dict)
    # Rows counted per client, certificate and status (queries.PRESENTED), for the
    # dashboard's client and certificate pages; only a source read for them has it.
    presented: str | None = None
    # TLS connections counted per client, protocol, cipher and key exchange
    # (queries.TLS_HANDSHAKES), for the policy questions (diagnose/tls.py); only a source
    # read for a Scope with ``tls`` has it.
    tls: str | None = None

    @classmethod
    def of_tables(
        cls,
        scope: Scope,
        counts: str,
        failures: str,
        expiring: str,
        presented: str | None = None,
        tls: str | None = None,
    ) -> Prepared:
        """Over tables of ``STATUS_MINUTES``, ``FAILURE_GROUPS`` and ``EXPIRING_CLIENTS``
        (and ``PRESENTED``, ``TLS_HANDSHAKES``)."""
        return cls(
            scope,
            counts_relation(counts),
            failures,
            expiring_relation(expiring),
            presented=presented,
            tls=tls,
        )


class Source(Protocol):
    """A log source read for one diagnosis: what every view of a diagnosis asks of.

    ``stats`` are the read statistics (malformed lines, file faults) of what was read;
    ``prepared`` the tables; ``fetch`` runs DuckDB-dialect ``SELECT`` text over them, and
    ``fetch_many`` several such questions, at once where the source can.
    """

    @property
    def stats(self) -> ReadStats: ...

    @property
    def prepared(self) -> Prepared: ...

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> Rows: ...

    def fetch_many(self, queries: Sequence[Query]) -> list[Rows]: ...


class QueryTarget(Protocol):
    """Rows of connections that ``SELECT`` text can ask: for row browsing (the dashboard's
    connection pages) and for what a filter needs from the data (:func:`resolve_candidates`)."""

    @property
    def relation(self) -> str: ...

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> Rows: ...


def resolve_candidates(target: QueryTarget, filters: Filters) -> Filters:
    """An IPv6 block is matched in Python against the v6 addresses in the target's rows,
    since the log's IPv6 spelling is not documented (see ``Filters.needs_candidates``)."""
    if not filters.needs_candidates():
        return filters
    rows = target.fetch(
        f"SELECT DISTINCT client_ip FROM {target.relation} WHERE contains(client_ip, ':')"
    )
    return filters.with_candidates([str(r[0]) for r in rows])


class RowsTarget(QueryTarget, Protocol):
    """Rows with read statistics: a source that keeps no prepared table (Athena)."""

    @property
    def stats(self) -> ReadStats: ...


class RowsSource:
    """A :class:`Source` whose prepared relations are plain rows, asked with ``ROW_SHAPE``
    and the selection's filters (resolved already: see :func:`resolve_candidates`): the
    engine's questions over every row. Slow, and no source uses it; it is the reference
    the tests hold every source's prepared tables to (tests/diagnose/reference.py)."""

    def __init__(self, target: RowsTarget, scope: Scope) -> None:
        self.target = target
        where, params = scope.filters.where()
        rel = target.relation
        self.prepared = Prepared(scope, rel, rel, rel, dict(q.ROW_SHAPE), where, params)

    @property
    def stats(self) -> ReadStats:
        return self.target.stats

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> Rows:
        return self.target.fetch(sql, params)

    def fetch_many(self, queries: Sequence[Query]) -> list[Rows]:
        return [self.target.fetch(sql, params) for sql, params in queries]
