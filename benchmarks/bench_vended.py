"""Benchmark: ``logs query --count-by tls_verify_status`` on vended corpora against legacy gzip.

The 2M-line corpus of ``bench_logs.py`` (20 files) is also written by ``gen.py`` as vended
JSON lines, gzip, string values (``json``); the same with numbers, null and missing keys
(``json-typed``); and Parquet (``parquet``), into ``benchmarks/data/<N>k-<F>-<format>``. For
each format the vended and the legacy command run in alternation, A B A B ..., after one
warm-up pair, and the ratio vended/legacy is taken pair by pair (wall and CPU), so that a
machine whose speed drifts still gives a fair ratio; medians are printed, with min and max,
and the peak RSS of each vended run (the child's own accounting, from ``wait4``). Both
commands must give the same counts, or the script fails. Targets (issue #17): JSON ≤ 2x,
Parquet ≤ 1x, peak RSS < 400 MB.

Usage: python benchmarks/bench_vended.py [--pairs 5] [--formats json,json-typed,parquet]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.bench_logs import BIN, DATA, corpus, machine  # noqa: E402
from benchmarks.gen import FORMATS, write_corpus  # noqa: E402

TARGETS = {"json": 2.0, "json-typed": 2.0, "parquet": 1.0}
RSS_TARGET_MB = 400


def vended_corpus(lines: int, files: int, fmt: str) -> list[Path]:
    """The ``fmt`` corpus holding the same connections as ``corpus(lines, files)``."""
    folder = DATA / f"{lines // 1000}k-{files}-{fmt}"
    found = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if len(found) != files:
        print(f"generating {lines} lines in {files} {fmt} files ...", file=sys.stderr)
        for stale in found:
            stale.unlink()
        cores = os.cpu_count() or 1
        found = sorted(write_corpus(folder, lines=lines, files=files, processes=cores, fmt=fmt))
    return found


def run(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall and CPU seconds, peak RSS (MB) and stdout of one run of ``cmd``, which must
    succeed. (Both outputs are small: the counts, and nothing on stderr off a TTY.)"""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.decode()


def spread(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):.2f}{unit} [{min(values):.2f}-{max(values):.2f}]"


def compare(legacy: list[Path], vended: list[Path], pairs: int) -> dict[str, list[float]]:
    """``pairs`` alternations of the count on ``vended`` and on ``legacy``, after a warm-up
    pair; the counts must be the same."""
    base = [str(BIN), "logs", "query", "--count-by", "tls_verify_status", "--format", "csv"]
    out: dict[str, list[float]] = {k: [] for k in ("a", "b", "wall", "cpu", "rss", "rss_b")}
    for number in range(pairs + 1):
        a_wall, a_cpu, a_rss, a_out = run([*base, *map(str, vended)])
        b_wall, b_cpu, b_rss, b_out = run([*base, *map(str, legacy)])
        if sorted(a_out.splitlines()) != sorted(b_out.splitlines()):
            raise SystemExit(f"counts differ:\nvended {a_out}\nlegacy {b_out}")
        if number:  # the first pair warms the page cache: not counted
            out["a"].append(a_wall)
            out["b"].append(b_wall)
            out["wall"].append(a_wall / b_wall)
            out["cpu"].append(a_cpu / b_cpu)
            out["rss"].append(a_rss)
            out["rss_b"].append(b_rss)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--formats", default="json,json-typed,parquet")
    args = parser.parse_args()
    formats = args.formats.split(",")
    if unknown := set(formats) - set(FORMATS[1:]):
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    print(f"- machine: {machine()}")
    legacy = corpus(args.lines, args.files)
    print("| Format | vended / legacy (median wall) | wall ratio | CPU ratio | peak RSS | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for fmt in formats:
        got = compare(legacy, vended_corpus(args.lines, args.files, fmt), args.pairs)
        met = "met" if statistics.median(got["wall"]) <= TARGETS[fmt] else "NOT met"
        met_rss = "met" if max(got["rss"]) < RSS_TARGET_MB else "NOT met"
        print(
            f"| {fmt} | {statistics.median(got['a']):.2f} s / {statistics.median(got['b']):.2f} s"
            f" | {spread(got['wall'])} | {spread(got['cpu'])} | {max(got['rss']):.0f} MB"
            f" (legacy {max(got['rss_b']):.0f} MB) | ≤ {TARGETS[fmt]:g}x: "
            f"{met}; < {RSS_TARGET_MB} MB: {met_rss} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
