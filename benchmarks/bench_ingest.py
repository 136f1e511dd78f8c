"""Benchmark: ``ingest`` into a new store against ``logs query --count-by tls_verify_status``.

For each corpus (2M lines in 20 gzip files; 3,000 gzip files of 40 lines, both made by
``gen.py`` into ``benchmarks/data/``) the two commands run in alternation, A B A B ..., and
the ratio is taken pair by pair, so that a machine whose speed drifts still gives a fair
ratio; CPU seconds (user + sys, every thread) are taken too, since on a shared machine they
wander less than wall time. Then: ``ingest`` again over the unchanged 3,000-file folder
(nothing to add), and the peak RSS of each ingest (the child's own accounting, from
``wait4``). Every command runs as a subprocess, start-up included. Medians are printed,
with min and max.

Usage: python benchmarks/bench_ingest.py [--repeat 5] [--corpus 2M|3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.bench_logs import BIN, corpus  # noqa: E402

CORPORA = {"2M lines, 20 files": (2_000_000, 20), "3,000 files of 40 lines": (120_000, 3000)}


def run(cmd: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds of one run of ``cmd``, which must
    succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode()}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def spread(values: list[float], unit: str = "s") -> str:
    return f"{statistics.median(values):.2f} {unit} (min {min(values):.2f}, max {max(values):.2f})"


def compare(folder: Path, repeat: int, scratch: Path) -> dict[str, list[float]]:
    """``repeat`` pairs: ingest into a new store, then the count by status."""
    out: dict[str, list[float]] = {
        key: []
        for key in ("ingest", "query", "ratio", "rss", "ingest_cpu", "query_cpu", "cpu_ratio")
    }
    query = [str(BIN), "logs", "query", str(folder), "--count-by", "tls_verify_status"]
    for number in range(repeat + 1):  # the first pair warms the page cache: not counted
        db = scratch / f"new-{number}.duckdb"
        ingest_s, rss, ingest_cpu = run([str(BIN), "ingest", str(folder), "--db", str(db)])
        query_s, _, query_cpu = run(query)
        db.unlink()
        if number:
            out["ingest"].append(ingest_s)
            out["query"].append(query_s)
            out["ratio"].append(ingest_s / query_s)
            out["rss"].append(rss / 1024)
            out["ingest_cpu"].append(ingest_cpu)
            out["query_cpu"].append(query_cpu)
            out["cpu_ratio"].append(ingest_cpu / query_cpu)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus", choices=("2M", "3000", "both"), default="both")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| What | Median (min, max) |\n| --- | --- |")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        scratch = Path(name)
        for label, (lines, files) in CORPORA.items():
            if args.corpus != "both" and not label.replace(",", "").startswith(args.corpus):
                continue
            folder = corpus(lines, files)[0].parent
            got = compare(folder, args.repeat, scratch)
            print(
                f"| {label}: `logs query --count-by tls_verify_status` | {spread(got['query'])} |"
            )
            print(f"| {label}: `ingest --db NEW` | {spread(got['ingest'])} |")
            print(f"| {label}: ratio ingest / query, pair by pair | {spread(got['ratio'], 'x')} |")
            print(f"| {label}: peak RSS of ingest | {spread(got['rss'], 'MiB')} |")
            print(f"| {label}: CPU of query | {spread(got['query_cpu'])} |")
            print(f"| {label}: CPU of ingest | {spread(got['ingest_cpu'])} |")
            print(f"| {label}: CPU ratio, pair by pair | {spread(got['cpu_ratio'], 'x')} |")
        if args.corpus == "2M":
            print(f"load average at end: {os.getloadavg()[0]:.1f}")
            return 0
        folder = corpus(*CORPORA["3,000 files of 40 lines"])[0].parent
        db = scratch / "again.duckdb"
        run([str(BIN), "ingest", str(folder), "--db", str(db)])
        again = [run([str(BIN), "ingest", str(folder), "--db", str(db)])[0] for _ in range(5)]
        print(f"| 3,000 files: `ingest` again, nothing new | {spread(again)} |")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
