"""Change points that can be trusted: did a failure code appear, or did its rate jump?

Both questions are tests of one null hypothesis, H0: the code's share of TLS connections
was the same all through the selection. A claim is made only when H0 is rejected at a
family-wise false-alarm rate of ``ALPHA`` per code per diagnosis, split evenly between the
two tests (Bonferroni), and only on enough failures (``MIN_*``). docs/diagnosis.md
describes the method; tests/diagnose/test_changes_sim.py checks it on simulated months.

- "appeared": the code's first occurrence comes after N connections without it. Given the
  T connections and the code's K failures, under H0 the failures fall on any K of the T
  connections alike, so P(none among the first N) = C(T-N, K) / C(T, K), exactly.
  One statistic per code, so no correction is needed. Where the selection starts at a
  ``--since`` and the source could hold earlier rows, absence before the window must be
  shown from those rows (``Lookback``); without them no "appeared" is claimed at all.
- "jumped": for every minute boundary, the rate before against the rate after. The
  boundary that maximises the binomial likelihood ratio is tested exactly (the after-count
  given the total is Binomial(K, n_after / T) under H0), and its p-value is multiplied by
  the number of boundaries that could have been chosen (Bonferroni).

Connections are treated as independent trials: a client that retries in a burst makes
failures clump, which this model does not know. The minimum counts and factor temper it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.model import ChangePoint

# Family-wise false-alarm rate per code per diagnosis, half for each test.
ALPHA = 0.001
ALPHA_APPEARED = ALPHA / 2
ALPHA_JUMPED = ALPHA / 2
# No claim on thin evidence, whatever the p-value.
MIN_TRAFFIC_BEFORE = 20  # TLS connections before the change
MIN_APPEARED = 3  # failures of the code from its first occurrence on
MIN_FAILURES_AFTER = 5  # failures after a jump
# "Appeared" is withheld when the rate after the first failure rises even at this level: a
# guard that only withholds claims, so it may be lax without raising false alarms.
RISE_GUARD = 0.05
# A jump must also matter: on millions of connections a 10% rise is "significant".
MIN_JUMP_FACTOR = 3.0

Buckets = Sequence[tuple[datetime, int]]


@dataclass(frozen=True)
class Lookback:
    """What the source holds just before the selected window: its TLS connections, and
    each code's failures among them."""

    connections: int
    failures: dict[str, int]


@dataclass(frozen=True)
class Window:
    """Where the selection starts. ``cut``: at a time (``--since``), so the source may hold
    earlier rows; ``lookback``: their counts, when the source can give them."""

    cut: bool = False
    lookback: Lookback | None = None


class Minutes:
    """The TLS connections per minute of a selection, in time order: built once per
    diagnosis and shared by every code's test (a month has 43,200 minutes)."""

    def __init__(self, tls_minutes: Buckets) -> None:
        pairs = sorted(tls_minutes)
        self.times = [t for t, _ in pairs]
        self.tls = [n for _, n in pairs]
        self.index = {t: i for i, t in enumerate(self.times)}

    def align(self, code_minutes: Buckets) -> tuple[list[datetime], list[int], list[int]]:
        """The minutes, connections and the code's failures per minute, aligned."""
        k = [0] * len(self.times)
        for at, count in code_minutes:
            i = self.index.get(at)
            if i is None:  # a failure in a minute without connections: not from one table
                return self._merged(code_minutes)
            k[i] += count
        return self.times, self.tls, k  # a minute's failures are among its connections

    def _merged(self, code_minutes: Buckets) -> tuple[list[datetime], list[int], list[int]]:
        totals, counts = dict(zip(self.times, self.tls, strict=True)), dict(code_minutes)
        times = sorted(set(totals) | set(counts))
        k = [counts.get(t, 0) for t in times]
        return times, [max(totals.get(t, 0), c) for t, c in zip(times, k, strict=True)], k


def detect_change(
    code: str,
    code_minutes: Buckets,
    tls_minutes: Buckets | Minutes,
    first_seen: datetime | None,
    window: Window = Window(),
) -> ChangePoint | None:
    """A significant appearance of ``code``, else a significant jump in its rate, else None.

    ``code_minutes`` and ``tls_minutes`` count the code's failures and every TLS
    connection per minute (any resolution works; a finer one places the change better).
    """
    if sum(count for _, count in code_minutes) < min(MIN_APPEARED, MIN_FAILURES_AFTER):
        return None  # too few to claim anything
    table = tls_minutes if isinstance(tls_minutes, Minutes) else Minutes(tls_minutes)
    times, n, k = table.align(code_minutes)
    if len(times) < 2:
        return None
    return _appeared(code, times, n, k, first_seen, window) or _jumped(code, times, n, k)


def p_text(p: float) -> str:
    """``p = 3e-07``; tiny values as ``p < 1e-12`` (beyond the float arithmetic's care)."""
    return "p < 1e-12" if p < 1e-12 else f"p = {p:.0e}" if p < 0.01 else f"p = {p:.2f}"


def _appeared(
    code: str,
    times: list[datetime],
    n: list[int],
    k: list[int],
    first_seen: datetime | None,
    window: Window,
) -> ChangePoint | None:
    first = next((i for i, c in enumerate(k) if c > 0), None)
    if first is None:
        return None
    before, after, failures = sum(n[:first]), sum(n[first:]), sum(k)
    outside = 0
    if window.cut:
        look = window.lookback
        if look is None or look.failures.get(code, 0) > 0:
            return None  # no earlier rows to show it absent, or it was there before
        outside = look.connections
    before += outside
    if failures < MIN_APPEARED or before < MIN_TRAFFIC_BEFORE:
        return None
    p = _none_in_first(before + after, before, failures)
    if p >= ALPHA_APPEARED or _rises(n[first:], k[first:]):
        return None
    rate = failures / after
    at = first_seen or times[first]
    where = f" ({outside} of them before the selected window)" if outside else ""
    return ChangePoint(
        at,
        "appeared",
        0.0,
        rate,
        f"{code} first appeared at {at:%Y-%m-%d %H:%M:%S}Z: 0 of the {before} TLS connections "
        f"before had it{where}, where {before * rate:.1f} were expected at its later rate of "
        f"{_pct(rate)} ({p_text(p)}). Look for a trust-store or certificate change just before.",
        p_value=p,
        connections_before=before,
        failures_before=0,
        connections_after=after,
        failures_after=failures,
        expected_before=before * rate,
    )


def _none_in_first(total: int, first: int, failures: int) -> float:
    """P(no failure among the first ``first`` of ``total`` connections), ``failures`` of
    them failures placed at random: C(total - first, failures) / C(total, failures)."""
    if failures > total - first:
        return 0.0
    return math.exp(_log_choose(total - first, failures) - _log_choose(total, failures))


def _log_choose(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def _rises(n: list[int], k: list[int]) -> bool:
    """Whether the code's rate rises significantly (by any factor) within these minutes.

    "Appeared" compares the clean stretch with the code's rate after its first failure; a
    later rise would inflate that rate and make an old code look new. Checking it only
    withholds claims, so the false-alarm rate of "appeared" stays within its share."""
    found = _tested_split(n, k, 1.0)
    return found is not None and found[3] < RISE_GUARD


def _tested_split(
    n: list[int], k: list[int], min_factor: float
) -> tuple[int, int, int, float] | None:
    """The likeliest split (see ``_best_split``), its connections and failures before, and
    its exact p-value times the number of split points (Bonferroni)."""
    total, failures = sum(n), sum(k)
    if failures < MIN_FAILURES_AFTER or len(n) < 2:
        return None
    best = _best_split(n, k, min_factor)
    if best is None:
        return None
    split, n1, k1 = best
    # Bonferroni over every boundary the split could have been chosen from.
    p = min(1.0, _binomial_upper(failures - k1, failures, (total - n1) / total) * (len(n) - 1))
    return split, n1, k1, p


def _jumped(code: str, times: list[datetime], n: list[int], k: list[int]) -> ChangePoint | None:
    found = _tested_split(n, k, MIN_JUMP_FACTOR)
    if found is None or found[3] >= ALPHA_JUMPED:
        return None
    split, n1, k1, p = found
    n2, k2 = sum(n) - n1, sum(k) - k1
    tried = len(times) - 1
    r1, r2 = k1 / n1, k2 / n2
    factor = f"{r2 / r1:.0f}-fold " if k1 else ""
    at = times[split]
    return ChangePoint(
        at,
        "jumped",
        r1,
        r2,
        f"{code} rose {factor}at {at:%Y-%m-%d %H:%M}Z: {k1} of {n1} TLS connections before "
        f"({_pct(r1)}), {k2} of {n2} after ({_pct(r2)}); {p_text(p)} after correcting for "
        f"the {tried} points in time tried.",
        p_value=p,
        connections_before=n1,
        failures_before=k1,
        connections_after=n2,
        failures_after=k2,
        split_points=tried,
    )


def _best_split(n: list[int], k: list[int], min_factor: float) -> tuple[int, int, int] | None:
    """The boundary (index of the first minute after it, connections and failures before)
    with the largest likelihood ratio among those that qualify: enough traffic before,
    enough failures after, and a rate at least ``min_factor`` times higher after.

    Vectorised (pyarrow): a month has 43,200 minutes, each a candidate."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total, failures = float(sum(n)), float(sum(k))
    n1 = pc.cumulative_sum(pa.array(n[:-1], pa.float64()))
    k1 = pc.cumulative_sum(pa.array(k[:-1], pa.float64()))
    n2, k2 = pc.subtract(total, n1), pc.subtract(failures, k1)
    ok = pc.and_(
        pc.and_(pc.greater_equal(n1, MIN_TRAFFIC_BEFORE), pc.greater_equal(k2, MIN_FAILURES_AFTER)),
        pc.and_(
            pc.greater(n2, 0),
            # k2 / n2 >= F * k1 / n1, and strictly higher when k1 = 0
            pc.and_(
                pc.greater_equal(pc.multiply(k2, n1), pc.multiply(min_factor, pc.multiply(k1, n2))),
                pc.greater(pc.multiply(k2, n1), pc.multiply(k1, n2)),
            ),
        ),
    )
    ratio = pc.add(_log_likelihood(k1, n1), _log_likelihood(k2, n2))
    scored = pc.if_else(ok, ratio, None)
    if scored.null_count == len(scored):
        return None
    index = int(pc.index(scored, pc.max(scored)).as_py())
    return index + 1, int(n1[index].as_py()), int(k1[index].as_py())


def _log_likelihood(k: Any, n: Any) -> Any:
    """Binomial log-likelihood at its maximum, k ln(k/n) + (n-k) ln(1 - k/n), per element;
    the constant of the whole series cancels when splits are compared."""
    import pyarrow.compute as pc

    return pc.subtract(pc.add(_xlogx(k), _xlogx(pc.subtract(n, k))), _xlogx(n))


def _xlogx(x: Any) -> Any:
    import pyarrow.compute as pc

    return pc.if_else(pc.greater(x, 0), pc.multiply(x, pc.ln(pc.max_element_wise(x, 1))), 0.0)


def _binomial_upper(k: int, trials: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(trials, q), summed in log space from k up (the terms fall
    away fast beyond the mean, which k exceeds here)."""
    if k <= 0:
        return 1.0
    if q >= 1.0:
        return 1.0
    if q <= 0.0:
        return 0.0
    log_q, log_r = math.log(q), math.log1p(-q)
    log_term = _log_choose(trials, k) + k * log_q + (trials - k) * log_r
    head, total, j = log_term, 0.0, k
    while True:
        term = math.exp(log_term - head)
        total += term
        if term < 1e-17 * total or j == trials:
            break
        log_term += math.log((trials - j) / (j + 1)) + log_q - log_r
        j += 1
    return min(1.0, math.exp(head) * total)


def _pct(rate: float) -> str:
    return f"{rate:.2%}" if rate < 0.01 else f"{rate:.1%}"


def roll_up(buckets: Buckets, unit: str) -> list[tuple[datetime, int]]:
    """Per-minute counts summed into ``unit`` buckets (minute, hour or day), in time order:
    the display timeline, from the same minutes the detection reads."""
    out: dict[datetime, int] = {}
    for at, count in buckets:
        key = _truncate(at, unit)
        out[key] = out.get(key, 0) + count
    return sorted(out.items())


def _truncate(at: datetime, unit: str) -> datetime:
    at = at.replace(second=0, microsecond=0)
    if unit == "minute":
        return at
    if unit == "hour":
        return at.replace(minute=0)
    return at.replace(hour=0, minute=0)
