"""Files that lie: a 200 MB line, a 0-byte .gz (issue #19 items 5 and 7), read by both readers.

Each reader runs in a subprocess of its own, so that its peak RSS (VmHWM) is its own.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.errors import InputError
from mtls_doctor.logs.api import open_selection
from mtls_doctor.logs.lines import has_long_line
from mtls_doctor.logs.query import Filters
from tests.logs.corpus import line

pytest.importorskip("mtls_doctor.logs._linescan")

HUGE = 200 * 1024 * 1024
RSS_LIMIT_MB = 400  # what any input may cost the compiled reader
READ = """
import json, sys
from mtls_doctor.logs.api import open_selection
def peak_mb():
    # VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child forked from a
    # pytest that has grown to 400 MB would report the parent's peak as its own.
    for row in open("/proc/self/status"):
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    raise SystemExit("no VmHWM")
from mtls_doctor.logs.lines import has_long_line
from mtls_doctor.logs.query import Filters
with open_selection(sys.argv[1:]) as sel:
    rows = sum(1 for _ in sel.iter_rows(Filters()))
    stats = sel.stats
print(json.dumps({
    "rows": rows,
    "malformed": stats.malformed,
    "issues": [[i.line, i.message] for i in stats.issues],
    "faults": [[f.message, f.lines_read, f.complete] for f in stats.faults],
    "rss_mb": peak_mb(),
}))
"""


def read_in_subprocess(path: Path, *, pure: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "MTLS_DOCTOR_PURE"}
    if pure:
        env["MTLS_DOCTOR_PURE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", READ, str(path)], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def good_lines(count: int) -> bytes:
    return "".join(line(port=str(1000 + i)) + "\n" for i in range(count)).encode()


@pytest.mark.slow
@pytest.mark.parametrize("form", ["plain, no line end", "gzip, then a good line"])
def test_a_200_mb_line_is_reported_alike_by_both_readers_in_bounded_memory(
    tmp_path: Path, form: str
) -> None:
    if form.startswith("plain"):
        path = tmp_path / "conn_log_huge.log"
        with path.open("wb") as out:
            out.write(good_lines(3))
            for _ in range(HUGE // (8 << 20)):
                out.write(b"A" * (8 << 20))
        expected_rows = 3
    else:
        path = tmp_path / "conn_log_huge.log.gz"
        with gzip.open(path, "wb", compresslevel=1) as out:
            out.write(good_lines(3))
            for _ in range(HUGE // (8 << 20)):
                out.write(b"A" * (8 << 20))
            out.write(b"\n" + good_lines(1))
        expected_rows = 4
    compiled = read_in_subprocess(path, pure=False)
    pure = read_in_subprocess(path, pure=True)
    assert compiled["rss_mb"] < RSS_LIMIT_MB, compiled["rss_mb"]
    assert compiled["rows"] == expected_rows and compiled["malformed"] == 1
    assert compiled["issues"] == [[4, compiled["issues"][0][1]]]  # numbered: the 4th line
    [[message, _lines, complete]] = compiled["faults"]
    assert "longer than 65536 bytes" in message and complete
    for key in ("rows", "malformed", "issues", "faults"):
        assert pure[key] == compiled[key], key


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_a_0_byte_gz_file_is_a_truncated_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pure: bool
) -> None:
    if pure:
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    else:
        monkeypatch.delenv("MTLS_DOCTOR_PURE", raising=False)
    empty = tmp_path / "conn_log_empty.log.gz"
    empty.write_bytes(b"")
    good = tmp_path / "conn_log_good.log.gz"
    good.write_bytes(gzip.compress(good_lines(5)))
    with open_selection([str(empty), str(good)]) as sel:
        rows = list(sel.iter_rows(Filters()))
        faults = [(f.file, f.message, f.lines_read, f.complete) for f in sel.stats.faults]
    assert len(rows) == 5
    assert faults == [(str(empty), "truncated gzip stream (the file is empty)", 0, False)]
    with (
        pytest.raises(InputError, match=r"conn_log_empty\.log\.gz: truncated gzip"),
        open_selection([str(empty)]) as sel,
    ):
        list(sel.iter_rows(Filters()))


def test_an_empty_plain_file_is_still_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "conn_log_empty.log"
    empty.write_bytes(b"")
    good = tmp_path / "conn_log_good.log"
    good.write_bytes(good_lines(2))
    with open_selection([str(empty), str(good)]) as sel:
        assert len(list(sel.iter_rows(Filters()))) == 2 and sel.stats.faults == []


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: bytes(c if c in b"\n\r" else 97 for c in b)),
    limit=st.integers(min_value=1, max_value=40),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
)
def test_the_strided_long_line_check_agrees_with_splitting(
    data: bytes, limit: int, cuts: list[int]
) -> None:
    edges = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(edges)]
    expected = any(len(part) > limit for part in re.split(rb"\r|\n", data))
    assert has_long_line(pieces, limit) is expected
