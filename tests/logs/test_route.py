"""The scanner's routes and fold (linescan_route.c): rows sorted by route, lines counted.

What diagnose makes of them is held to a table of every row in
tests/diagnose/test_stream.py; these tests pin the scanner's own output.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from mtls_doctor.logs.parse import MAX_LINE_BYTES
from tests.diagnose.corpus import entry

_linescan = pytest.importorskip("mtls_doctor.logs._linescan")

from mtls_doctor.logs.routing import Routing  # noqa: E402

T = datetime(2024, 4, 5, 12, 0, 30, tzinfo=UTC)
HORIZON = datetime(2024, 6, 1)  # naive UTC, as Scope gives it
SOON = datetime(2024, 5, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def scan(lines: list[str], routing: Routing | None) -> tuple:  # type: ignore[type-arg]
    data = "".join(x + "\n" for x in lines).encode()
    plan = None if routing is None else routing.for_scan()
    return _linescan.scan(data, MAX_LINE_BYTES, 1 << 20, plan)


def folded(scanned: tuple) -> list[tuple[int, int, int, int, int, int]]:  # type: ignore[type-arg]
    """The folded counts as (not TLS, key >> 1, minute, n, first, last): key >> 1 is 1 for
    more than 15 fields, plus 2 outside the time window."""
    key, *rest = scanned[7]
    keys = memoryview(key).cast("i").tolist()
    minutes, counts, first, last = (memoryview(c).cast("q").tolist() for c in rest)
    return [
        (k & 1, k >> 1, *values)
        for k, *values in zip(keys, minutes, counts, first, last, strict=True)
    ]


def statuses(scanned: tuple) -> list[str]:  # type: ignore[type-arg]
    return statuses_of(scanned, 10)


def statuses_of(scanned: tuple, field: int) -> list[str]:  # type: ignore[type-arg]
    """The text of field ``field`` (0-based) of each row."""
    offsets, data = scanned[1][field]
    ends = memoryview(offsets).cast("i").tolist()
    return [bytes(data[a:b]).decode() for a, b in itertools.pairwise(ends)]


MIXED = [
    entry(T, "192.0.2.1", "Success"),
    entry(T, "192.0.2.2", "Failed:ClientCertExpired"),
    entry(T, "192.0.2.3", "-"),
    entry(T, "192.0.2.4", "Success", not_after=SOON),
    entry(T, "192.0.2.5", "Failed:ClientCertUntrusted"),
    entry(T, "192.0.2.6", "Success", not_before=None, not_after=None),
]


def test_without_routing_rows_keep_their_order() -> None:
    scanned = scan(MIXED, None)
    assert statuses(scanned) == ["Success", "Failed:ClientCertExpired", "-", "Success",
                                 "Failed:ClientCertUntrusted", "Success"]  # fmt: skip
    assert scanned[-1] == (0, 0, 6) and folded(scanned) == []


def test_routing_sorts_rows_failed_expiring_other() -> None:
    scanned = scan(MIXED, Routing(HORIZON))
    assert scanned[-1] == (2, 1, 3)
    assert statuses(scanned) == ["Failed:ClientCertExpired", "Failed:ClientCertUntrusted",
                                 "Success", "Success", "-", "Success"]  # fmt: skip
    # Each row's instants travel with it: the expiring row's NotAfter is SOON.
    not_after = memoryview(scanned[5][2]).cast("q").tolist()
    assert not_after[2] == micros(SOON)


def test_a_not_after_on_the_horizon_is_not_expiring() -> None:
    # SQL asks not_after < horizon: a certificate that ends on it is not "expiring".
    on = entry(T, "192.0.2.1", "Success", not_after=HORIZON.replace(tzinfo=UTC))
    just_before = HORIZON.replace(tzinfo=UTC) - timedelta(microseconds=1)
    before = entry(T, "192.0.2.1", "Success", not_after=just_before)
    assert scan([on], Routing(HORIZON))[-1] == (0, 0, 1)
    assert scan([before], Routing(HORIZON))[-1] == (0, 1, 0)


def test_fold_counts_every_line_but_failed_ones_and_keeps_expiring_rows() -> None:
    lines = [
        *MIXED,
        entry(T + timedelta(seconds=40), "192.0.2.7", "Success"),  # the next minute
        entry(T + timedelta(seconds=10), "192.0.2.8", "Success") + " new-field",
        entry(T - timedelta(seconds=20), "192.0.2.9", "-"),
    ]
    scanned = scan(lines, Routing(HORIZON, fold=True))
    # The rows: the two failed ones and the expiring one, which is counted too.
    assert scanned[0] == 3 and scanned[-1] == (2, 1, 0)
    minute = micros(datetime(2024, 4, 5, 12, 0, tzinfo=UTC))
    t = micros(T)
    assert sorted(folded(scanned)) == [
        (0, 0, minute, 3, t, t),
        (0, 0, minute + 60_000_000, 1, t + 40_000_000, t + 40_000_000),
        (0, 1, minute, 1, t + 10_000_000, t + 10_000_000),
        (1, 0, minute, 2, t - 20_000_000, t),
    ]


def test_fold_truncates_instants_before_1970_down_to_the_minute() -> None:
    at = datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC)
    (counts,) = folded(scan([entry(at, "192.0.2.1", "-")], Routing(HORIZON, fold=True)))
    assert counts[2] == -60_000_000 and counts[4] == -30_000_000


def test_a_scan_of_many_minutes_in_any_order_counts_them_all() -> None:
    minutes = [(i * 7919) % 5000 for i in range(5000)]  # each minute once, shuffled
    lines = [entry(T + timedelta(minutes=m), "192.0.2.1", "Success") for m in minutes]
    scanned = scan(lines * 2, Routing(HORIZON, fold=True))
    assert scanned[0] == 0 and len(folded(scanned)) == 5000
    assert {f[3] for f in folded(scanned)} == {2}


def test_of_expiring_lines_per_client_and_certificate_only_the_latest_is_a_row() -> None:
    def use(minute: int, ip: str = "192.0.2.1", subject: str = "CN=a") -> str:
        at = T + timedelta(minutes=minute)
        return entry(at, ip, "Success", subject=subject, not_after=SOON)

    lines = [use(1), use(5), use(3), use(2, subject="CN=b"), use(4, ip="192.0.2.2")]
    folding = scan(lines, Routing(HORIZON, fold=True))
    assert folding[-1] == (0, 3, 0) and sum(f[3] for f in folded(folding)) == 5  # all counted
    at = memoryview(folding[5][0]).cast("q").tolist()
    rows = sorted(zip(statuses_of(folding, 7), at, strict=True))
    minute = timedelta(minutes=1) // timedelta(microseconds=1)
    assert rows == [("CN=a", micros(T) + 4 * minute), ("CN=a", micros(T) + 5 * minute),
                    ("CN=b", micros(T) + 2 * minute)]  # fmt: skip
    # Without folding (a filter may want any of them), every line is a row.
    assert scan(lines, Routing(HORIZON))[-1] == (0, 5, 0)


def test_many_clients_in_one_scan_each_keep_their_latest_line() -> None:
    # Past the first table's room (1024 slots): the rows found so far are placed again.
    clients = [f"10.{i // 250}.{i % 250}.1" for i in range(3000)]
    early = [entry(T, ip, "Success", not_after=SOON) for ip in clients]
    late = [entry(T + timedelta(minutes=1), ip, "Success", not_after=SOON) for ip in clients]
    scanned = scan(early + late[::-1] + early, Routing(HORIZON, fold=True))
    assert scanned[-1] == (0, 3000, 0)
    assert set(memoryview(scanned[5][0]).cast("q").tolist()) == {micros(T) + 60_000_000}


def test_a_routing_that_is_not_a_pair_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="routing"):
        _linescan.scan(b"", 100, 10, [None, True, None, None])


def test_outside_the_time_window_only_failed_lines_are_rows() -> None:
    inside, outside = T + timedelta(minutes=1), T + timedelta(minutes=2)  # until excluded
    lines = [
        entry(T, "192.0.2.1", "Success"),  # on `since`: inside
        entry(outside, "192.0.2.2", "Success"),
        entry(outside, "192.0.2.3", "-") + " new-field",
        entry(outside, "192.0.2.4", "Success", not_after=SOON),  # expiring, but outside
        entry(outside, "192.0.2.5", "Failed:ClientCertExpired"),  # the SQL judges it
        entry(inside, "192.0.2.6", "Success", not_after=SOON),
    ]
    window = Routing(HORIZON, True, T.replace(tzinfo=None), outside.replace(tzinfo=None))
    scanned = scan(lines, window)
    assert scanned[-1] == (1, 1, 0)
    minute = micros(datetime(2024, 4, 5, 12, 0, tzinfo=UTC))
    t2 = micros(outside)
    assert sorted(folded(scanned)) == [
        (0, 0, minute, 1, micros(T), micros(T)),
        (0, 0, minute + 60_000_000, 1, micros(inside), micros(inside)),
        (0, 2, 0, 2, t2, t2),  # outside: no minute
        (1, 3, 0, 1, t2, t2),  # "-", more than 15 fields, outside
    ]
