"""Change detection on simulated months of logs, made directly as counts per minute.

Traffic follows a daily cycle with Poisson noise; a code's failures fall on connections
drawn at random (so, given their number, exactly as H0 says). Several seeds, traffic levels
and windows; a window that starts at a --since is "cut" (earlier rows may exist).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from mtls_doctor.diagnose import changes as _ch
from mtls_doctor.diagnose.changes import Lookback, Window
from mtls_doctor.diagnose.model import ChangePoint

START = datetime(2026, 3, 1)
MONTH = 30 * 24 * 60  # minutes
SEEDS = (1, 2, 3, 4, 5)
LEVELS = (0.3, 5.0, 60.0)  # TLS connections per minute: 13k, 216k, 2.6M a month
STEADY = (0.0005, 0.002, 0.02, 0.1)  # 0.0005: 6 in 12,000


def poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def traffic(rng: random.Random, level: float, minutes: int = MONTH) -> list[int]:
    """Connections per minute, busier by day than by night."""
    day = 2 * math.pi / 1440
    return [poisson(rng, level * (1 + 0.6 * math.sin(m * day))) for m in range(minutes)]


def failures(rng: random.Random, tls: list[int], rate: float, start: int, end: int) -> list[int]:
    """A code at ``rate`` from minute ``start`` to ``end``: its number of failures, then that
    many connections drawn at random among those minutes'."""
    ends = [0]
    for n in tls[start:end]:
        ends.append(ends[-1] + n)
    count = min(poisson(rng, ends[-1] * rate), ends[-1])
    out = [0] * len(tls)
    for position in rng.sample(range(ends[-1]), count):
        out[start + bisect.bisect_right(ends, position) - 1] += 1
    return out


@dataclass(frozen=True)
class Selection:
    """A window of the month: minutes [start, end); ``cut`` when it begins at a --since."""

    start: int
    end: int
    cut: bool


WINDOWS = {
    "month": Selection(0, MONTH, cut=False),
    "files-from-day-12": Selection(12 * 1440, MONTH, cut=False),  # no earlier data
    "since-7d": Selection(MONTH - 7 * 1440, MONTH, cut=True),
    "since-1d-mid": Selection(15 * 1440, 16 * 1440, cut=True),
    "since-6h": Selection(MONTH - 360, MONTH, cut=True),
}


def detect(
    tls: list[int], code: list[int], sel: Selection, lookback: bool = False
) -> ChangePoint | None:
    def series(counts: list[int]) -> list[tuple[datetime, int]]:
        return [
            (START + timedelta(minutes=m), counts[m])
            for m in range(sel.start, sel.end)
            if counts[m]
        ]

    code_minutes = series(code)
    first = code_minutes[0][0] if code_minutes else None
    look = None
    if lookback:  # the source's rows before the window, as far back as the month goes
        look = Lookback(sum(tls[: sel.start]), {"X": sum(code[: sel.start])})
    return _ch.detect_change("X", code_minutes, series(tls), first, Window(sel.cut, look))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_codes_at_a_steady_rate_make_no_claim_in_any_window(seed: int, level: float) -> None:
    rng = random.Random(seed * 1000 + int(level * 10))
    tls = traffic(rng, level)
    for rate in STEADY:
        code = failures(rng, tls, rate, 0, MONTH)
        for name, sel in WINDOWS.items():
            for lookback in (False, True):
                change = detect(tls, code, sel, lookback)
                assert change is None, (name, rate, lookback, change)


def after_nth(tls: list[int], code: list[int], at: int, nth: int) -> int:
    """The minute just after the ``nth`` failure from minute ``at`` on."""
    seen = 0
    for m in range(at, len(code)):
        seen += code[m]
        if seen >= nth:
            return m + 1
    raise AssertionError("not enough failures simulated")


# (traffic level, minute the code starts): at least 500 TLS connections before it in each
# window that contains it, so that its absence means something.
APPEARING = [(0.3, 20 * 1440), (5.0, 26 * 1440 + 333), (60.0, 29 * 1440 + 1000)]


@pytest.mark.parametrize(("level", "at"), APPEARING)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_code_starting_at_ten_percent_is_reported_within_its_first_few_failures(
    seed: int, level: float, at: int
) -> None:
    rng = random.Random(seed)
    tls = traffic(rng, level)
    code = failures(rng, tls, 0.10, at, MONTH)
    steady = failures(rng, tls, 0.002, 0, MONTH)
    first = START + timedelta(minutes=at)
    for name, sel in WINDOWS.items():
        if not sel.start < at < sel.end - 1 or sum(tls[sel.start : at]) < 500:
            continue
        # The review ends after the 1st, 2nd, ... failure: claimed by the 4th at the latest.
        claimed = None
        for nth in range(1, 5):
            window = Selection(sel.start, after_nth(tls, code, at, nth), sel.cut)
            change = detect(tls, code, window, lookback=sel.cut)
            if change is not None:
                claimed = nth
                break
        assert claimed is not None, (name, level)
        assert change is not None and change.kind == "appeared"
        assert first <= change.at < first + timedelta(minutes=window.end - at)
        assert change.p_value < 0.0005 and change.expected_before is not None
        assert detect(tls, steady, window, lookback=sel.cut) is None
        # With --since and no rows before it from the source, nothing has "appeared".
        if sel.cut:
            blind = detect(tls, code, window)
            assert blind is None or blind.kind == "jumped"


# (traffic level, rate before): eight times that from day 20, 09:17.
JUMPING = [(0.3, 0.01), (5.0, 0.002), (60.0, 0.0005)]
JUMP_AT = 20 * 1440 + 557


@pytest.mark.parametrize(("level", "rate"), JUMPING)
@pytest.mark.parametrize("seed", SEEDS)
def test_an_eight_fold_jump_is_reported_near_when_it_happened(
    seed: int, level: float, rate: float
) -> None:
    rng = random.Random(seed)
    tls = traffic(rng, level)
    code = [
        a + b
        for a, b in zip(
            failures(rng, tls, rate, 0, JUMP_AT),
            failures(rng, tls, 8 * rate, JUMP_AT, MONTH),
            strict=True,
        )
    ]
    # Near: within the time in which 15 failures are expected at the new rate (over 270
    # runs of 30 other seeds: median 0.5-0.9 of those gaps, 90% within 5, worst 12).
    near = timedelta(minutes=15 / (level * 8 * rate))
    jump = START + timedelta(minutes=JUMP_AT)
    for sel in (
        WINDOWS["month"],
        Selection(JUMP_AT - 7 * 1440, JUMP_AT + 3 * 1440, cut=True),
        Selection(18 * 1440, 22 * 1440, cut=False),
    ):
        change = detect(tls, code, sel)
        assert change is not None and change.kind == "jumped", (sel, change)
        assert abs(change.at - jump) <= near, (sel, change.at, jump, near)
        assert change.p_value < 0.0005 and change.split_points > 1000
        assert change.after_rate > 4 * change.before_rate
