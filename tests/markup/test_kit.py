"""The small HTML builders: proportional bars."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mtls_doctor.markup.kit import BAR_PX, bar_cell
from mtls_doctor.markup.style import CSS


def _width(cell: str) -> int:
    match = re.search(r'class="bar" style="width:(\d+)px"', cell)
    assert match, cell
    return int(match.group(1))


def test_bars_for_7_5_and_3_differ_in_proportion() -> None:
    # In pixels, not in percent of the cell: a percentage of a wide cell, capped, drew
    # these three alike (the report's TLS protocol mix).
    widths = [_width(bar_cell(n, 7)) for n in (7, 5, 3)]
    assert widths == [BAR_PX, round(BAR_PX * 5 / 7), round(BAR_PX * 3 / 7)]
    assert "max-width" not in CSS.split(".barcell .bar{")[1].split("}")[0]


def test_a_bar_of_nothing_is_empty_and_any_count_shows() -> None:
    assert _width(bar_cell(0, 7)) == 0 and _width(bar_cell(0, 0)) == 0
    assert _width(bar_cell(1, 10_000_000)) == 1


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_bar_width_is_monotonic_and_bounded(count: int, peak: int) -> None:
    count = min(count, peak)
    width = _width(bar_cell(count, peak))
    assert 0 <= width <= BAR_PX
    assert width <= _width(bar_cell(min(count + 1, peak), peak))
