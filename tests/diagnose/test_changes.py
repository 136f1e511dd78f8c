"""Change detection on hand-made minutes: each rule with a case that must claim and one that
must not, and the exact probabilities against brute force."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from mtls_doctor.diagnose import changes
from mtls_doctor.diagnose.changes import Lookback, Window, roll_up


def detect_change(*args: Any, **kw: Any) -> Any:  # looked up when called: see the report
    return changes.detect_change(*args, **kw)


T = datetime(2024, 4, 5, 12, 0)


def minutes(values: list[int]) -> list[tuple[datetime, int]]:
    return [(T + timedelta(minutes=i), n) for i, n in enumerate(values)]


def test_a_code_appearing_after_enough_clean_traffic_is_claimed_with_how_sure() -> None:
    tls = minutes([10] * 10)
    change = detect_change("ClientCertUntrusted", minutes([0] * 9 + [4]), tls, None)
    assert change is not None and change.kind == "appeared"
    assert change.at == T + timedelta(minutes=9)
    # C(10, 4) / C(100, 4): none of the 4 among the first 90 of 100 connections
    assert change.p_value == pytest.approx(math.comb(10, 4) / math.comb(100, 4))
    assert (change.connections_before, change.failures_after) == (90, 4)
    assert change.expected_before == pytest.approx(36.0)
    assert "0 of the 90 TLS connections before had it, where 36.0 were expected" in change.message
    assert "p = 5e-05" in change.message
    assert change.to_dict()["p_value"] == pytest.approx(5.36e-05, rel=1e-2)


def test_the_same_appearance_after_little_traffic_is_no_claim() -> None:
    # 30 clean connections then 4 of 10: p = C(10,4)/C(40,4) = 0.002, above 0.0005
    tls = minutes([10] * 4)
    assert detect_change("ClientCertUntrusted", minutes([0, 0, 0, 4]), tls, None) is None


def test_no_claim_for_a_rare_or_steady_code_or_on_thin_evidence() -> None:
    # 6 in 12,000 connections, the first after 2,000: the old rule said "first appeared"
    tls = minutes([100] * 120)
    code = [0] * 120
    for i in (20, 45, 60, 80, 100, 119):
        code[i] = 1
    assert detect_change("ClientCertPurposeInvalid", minutes(code), tls, None) is None
    # nor a code there from the start at a steady rate
    tls = minutes([20, 20, 20, 20])
    assert detect_change("ClientCertExpired", minutes([2, 2, 2, 2]), tls, T) is None
    # nor a jump on few failures
    # 2 of 40 connections, then 6 of 40: 8 failures are too few to tell
    tls = minutes([20, 20, 20, 20])
    assert detect_change("X", minutes([1, 1, 3, 3]), tls, T) is None
    # nor a code seen after too little traffic
    assert detect_change("X", minutes([0, 3])[1:], minutes([3, 3]), None) is None


def test_a_cut_window_claims_appeared_only_with_a_lookback_showing_absence() -> None:
    tls = minutes([10] * 10)
    code = minutes([0] * 9 + [4])
    clean = Lookback(500, {"ClientCertExpired": 3})
    cut = detect_change("ClientCertUntrusted", code, tls, None, Window(cut=True))
    assert cut is None or cut.kind != "appeared"  # earlier rows unknown
    seen_before = Window(cut=True, lookback=Lookback(500, {"ClientCertUntrusted": 1}))
    was_there = detect_change("ClientCertUntrusted", code, tls, None, seen_before)
    assert was_there is None or was_there.kind != "appeared"
    change = detect_change("ClientCertUntrusted", code, tls, None, Window(True, clean))
    assert change is not None and change.kind == "appeared"
    assert change.connections_before == 590
    assert "(500 of them before the selected window)" in change.message


def test_an_eight_fold_jump_is_claimed_where_it_happened() -> None:
    tls = minutes([100] * 60)
    code = minutes([1] * 30 + [8] * 30)
    change = detect_change("ClientCertExpired", code, tls, T)
    assert change is not None and change.kind == "jumped"
    assert change.at == T + timedelta(minutes=30)
    assert (change.failures_before, change.connections_before) == (30, 3000)
    assert change.split_points == 59
    assert change.message.startswith("ClientCertExpired rose 8-fold at 2024-04-05 12:30Z")
    assert "after correcting for the 59 points in time tried" in change.message
    # A 2-fold rise on a million connections is "significant", but too small to matter.
    tls = minutes([10_000] * 100)
    code = minutes([10] * 50 + [20] * 50)
    assert detect_change("X", code, tls, T) is None


@pytest.mark.parametrize(("total", "first", "k"), [(12, 5, 3), (9, 4, 2), (7, 3, 4), (6, 0, 2)])
def test_none_in_first_is_the_exact_permutation_probability(total: int, first: int, k: int) -> None:
    ways = list(itertools.combinations(range(total), k))
    clean = sum(1 for w in ways if min(w) >= first)
    assert changes._none_in_first(total, first, k) == pytest.approx(clean / len(ways))


@pytest.mark.parametrize(("k", "trials", "q"), [(5, 10, 0.3), (18, 20, 0.5), (3, 40, 0.01)])
def test_binomial_upper_tail_is_exact(k: int, trials: int, q: float) -> None:
    exact = sum(math.comb(trials, j) * q**j * (1 - q) ** (trials - j) for j in range(k, trials + 1))
    assert changes._binomial_upper(k, trials, q) == pytest.approx(exact, rel=1e-9)


def test_roll_up_sums_minutes_into_hours_and_days() -> None:
    series = [(T + timedelta(minutes=m), 1) for m in (0, 59, 60, 24 * 60)]
    assert roll_up(series, "hour") == [
        (T, 2),
        (T + timedelta(hours=1), 1),
        (T + timedelta(days=1), 1),
    ]
    assert roll_up(series, "day") == [
        (T.replace(hour=0), 3),
        (T.replace(hour=0) + timedelta(days=1), 1),
    ]
