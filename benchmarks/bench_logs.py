"""Benchmark: ``mtls-doctor logs query --count-by`` against ``zcat | awk``, store queries, ingest.

One run prints, as Markdown for benchmarks/README.md: wall times (best of --repeat), the
ours/awk ratio, the child's peak RSS for two corpus sizes, ``ingest`` time, and the time of
a per-client failure count on the ingested store (in-process and through the CLI). Both
tools must give the same counts, or the script fails.

Usage: python benchmarks/bench_logs.py [--lines 2000000] [--files 20] [--big 4000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from benchmarks.gen import write_corpus  # noqa: E402

DATA = HERE / "data"
BIN = Path(sys.executable).with_name("mtls-doctor")
AWK = (
    "zcat {files} | awk -F'\"' '{{split($3,a,\" \"); c[a[3]]++}} END{{for(k in c) print k, c[k]}}'"
)


def corpus(lines: int, files: int) -> list[Path]:
    folder = DATA / f"{lines // 1000}k-{files}"
    found = sorted(folder.glob("conn_log_*.log.gz"))
    if len(found) != files:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {lines} lines in {files} files ...", file=sys.stderr)
        found = sorted(
            write_corpus(folder, lines=lines, files=files, processes=os.cpu_count() or 1)
        )
    return found


def timed(
    cmd: list[str] | str, shell: bool = False, ok: tuple[int, ...] = (0,)
) -> tuple[float, str]:
    """Wall seconds (process start-up included) and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): {cmd}\n{err.decode()}")
    return wall, out.decode()


def ours_rss(files: list[Path]) -> int:
    """Peak RSS (MB) of one ``logs query`` run (``wait4`` gives this child's own maximum)."""
    cmd = [str(BIN), "logs", "query", *map(str, files), "--count-by", "tls_verify_status"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return int(usage.ru_maxrss // 1024)


def best(
    repeat: int, cmd: list[str] | str, shell: bool = False, ok: tuple[int, ...] = (0,)
) -> tuple[float, str]:
    runs = [timed(cmd, shell, ok) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[-1][1]


def pure(cmd: list[str]) -> str:
    """``cmd`` with the compiled line scanner switched off (DuckDB's reader and SQL parser)."""
    return "MTLS_DOCTOR_PURE=1 " + " ".join(cmd)


def compare(files: list[Path], repeat: int) -> tuple[float, float, float]:
    """Best wall times of awk, of ours, and of ours without the compiled scanner."""
    names = " ".join(map(str, files))
    awk_s, awk_out = best(repeat, AWK.format(files=names), shell=True)
    ours_cmd = [str(BIN), "logs", "query", *map(str, files), "--count-by", "tls_verify_status"]
    ours_s, ours_out = best(repeat, [*ours_cmd, "--format", "csv"])
    pure_s, pure_out = best(repeat, pure([*ours_cmd, "--format", "csv"]), shell=True)
    awk_counts = Counter({k: int(v) for k, v in (x.rsplit(" ", 1) for x in awk_out.splitlines())})
    for label, out in (("ours", ours_out), ("pure", pure_out)):
        rows = [x.rsplit(",", 1) for x in out.splitlines()[1:]]
        counts = Counter({k: int(v) for k, v in rows})
        if awk_counts != counts:
            raise SystemExit(f"counts differ:\nawk  {awk_counts}\n{label} {counts}")
    return awk_s, ours_s, pure_s


# diagnose with the clock set inside the logs' time span (--at), as during an incident: only
# the certificates that expire within 30 days of then are looked at. (Run with today's clock,
# every certificate of this 2024 corpus has expired, so every successful row is.)


def diagnose_figures(files: list[Path], db: Path, repeat: int) -> dict[str, float]:
    """``diagnose FILES`` (compiled and pure, today's clock and a clock inside the logs'
    span, with no filter, a time window or another filter that select every row) and
    ``diagnose --db`` wall times; the answers must agree."""
    cmd = [str(BIN), "diagnose", *map(str, files), "--format", "json"]
    files_s, files_out = best(repeat, cmd, ok=(0, 1))
    pure_s, pure_out = best(1, pure(cmd), shell=True, ok=(0, 1))
    db_s, _ = best(repeat, [str(BIN), "diagnose", "--db", str(db), "--format", "json"], ok=(0, 1))
    a, b = json.loads(files_out), json.loads(pure_out)
    a.pop("generated_at", None)
    b.pop("generated_at", None)
    if a != b:
        raise SystemExit("diagnose FILES differs between the compiled and the pure reader")
    # --at ends the review (rows from T on are not counted): a second after the last row.
    last = datetime.fromisoformat(a["summary"]["last_seen"]) + timedelta(seconds=1)
    span = [*cmd, "--at", last.isoformat()]
    span_s, span_out = best(repeat, span, ok=(0, 1))
    # The same selection through a time window (which the scanner applies itself), and the
    # TLS connections (all on port 443 here) through another filter: every row then goes to
    # the SQL selection.
    window_s, window_out = best(repeat, [*span, "--since", a["summary"]["first_seen"]], ok=(0, 1))
    port_s, port_out = best(repeat, [*span, "--listener-port", "443"], ok=(0, 1))
    tls = {k: a["summary"][k] for k in ("succeeded", "failed", "tls_connections")}
    if (
        any(json.loads(out)["summary"] != a["summary"] for out in (span_out, window_out))
        or {k: json.loads(port_out)["summary"][k] for k in tls} != tls
    ):
        raise SystemExit("diagnose in the logs' span counts differently")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return {
        "files": files_s,
        "pure": pure_s,
        "db": db_s,
        "span": span_s,
        "window": window_s,
        "port": port_s,
        "rss": usage.ru_maxrss / 1024,
    }


def store_figures(files: list[Path], repeat: int) -> tuple[float, float, float]:
    from mtls_doctor.logs.api import open_selection
    from mtls_doctor.logs.query import Filters, parse_client

    db = DATA / "bench.duckdb"
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    ingest_s, _ = timed([str(BIN), "ingest", *map(str, files), "--db", str(db)])
    with open_selection([], db=db) as sel:
        (client, _), *_ = sel.count_by(
            Filters(status=("verify_result", "failed")), ["client_ip"]
        ).rows
        wanted = Filters(client=parse_client(client), status=("verify_result", "failed"))
        times = []
        for _ in range(max(repeat, 5)):
            start = time.perf_counter()
            sel.count_by(wanted, ["error_code"])
            times.append(time.perf_counter() - start)
    cli = [str(BIN), "logs", "query", "--db", str(db), "--client-ip", client, "--status", "failed"]
    cli_s, _ = best(repeat, [*cli, "--count-by", "error_code"])
    return ingest_s, min(times), cli_s


def machine() -> str:
    import duckdb

    cpu = next(
        (
            x.split(":", 1)[1].strip()
            for x in Path("/proc/cpuinfo").read_text().splitlines()
            if x.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
    )
    return (
        f"nproc {os.cpu_count()}, CPU {cpu}, RAM {int(mem.split()[1]) // 1024} MB, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"load average at start {os.getloadavg()[0]:.1f}{_bytecode()}"
    )


def _bytecode() -> str:
    # Without a bytecode cache every run compiles what it imports: start-up then grows with
    # the code, which an installed package (compiled once) does not show.
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ", PYTHONDONTWRITEBYTECODE set (modules with no cached bytecode compile each run)"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--big", type=int, default=4_000_000, help="0 skips the RSS growth check")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"- machine: {machine()}")
    files = corpus(args.lines, args.files)
    start_s, _ = best(args.repeat, [str(BIN), "--version"])
    query_s, _ = best(args.repeat, [str(BIN), "logs", "query", "--help"])
    print(
        f"- start-up: `mtls-doctor --version` {start_s:.2f} s, `logs query --help` {query_s:.2f} s"
    )
    awk_s, ours_s, pure_s = compare(files, args.repeat)
    print(f"- {args.lines} lines / {len(files)} files, count by tls_verify_status (same counts):")
    print(f"  awk {awk_s:.2f} s, ours {ours_s:.2f} s, ratio ours/awk = {ours_s / awk_s:.2f}")
    print(f"  without the compiled scanner {pure_s:.2f} s, ratio {pure_s / awk_s:.2f}")
    print(f"- peak RSS of `logs query`, {args.lines} lines: {ours_rss(files)} MB")
    if args.big:
        big = corpus(args.big, args.files * args.big // args.lines)
        print(f"- peak RSS of `logs query`, {args.big} lines: {ours_rss(big)} MB")
    ingest_s, lib_s, cli_s = store_figures(files, args.repeat)
    print(f"- `ingest` of {args.lines} lines: {ingest_s:.2f} s")
    print(
        f"- store: failures per code for one client: library {lib_s * 1000:.0f} ms, "
        f"CLI wall {cli_s * 1000:.0f} ms"
    )
    d = diagnose_figures(files, DATA / "bench.duckdb", args.repeat)
    print(
        f"- `diagnose FILES` {d['files']:.2f} s (ratio to awk {d['files'] / awk_s:.2f}, peak RSS "
        f"{d['rss']:.0f} MB; without the compiled scanner {d['pure']:.2f} s); with the clock "
        f"inside the logs' span {d['span']:.2f} s (ratio {d['span'] / awk_s:.2f}), "
        f"with a --since window {d['window']:.2f} s (ratio {d['window'] / awk_s:.2f}), "
        f"with --listener-port {d['port']:.2f} s (ratio {d['port'] / awk_s:.2f}); "
        f"`diagnose --db` (2M rows) CLI wall {d['db']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
