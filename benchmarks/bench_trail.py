"""What a day of CloudTrail files (about 10,000 records) adds to a diagnosis.

``.venv/bin/python benchmarks/bench_trail.py [--records N] [--repeat N]`` writes a day of
trail files (one every 5 minutes, as trails deliver them; 1 in 50 records an ELB write, the
rest Describe* calls and other services) into ``benchmarks/data/trail/``, then times, best of
``--repeat``: decompressing and parsing the JSON alone (the floor), ``read_folder`` over the
day, and the selection and linking for one change point. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.trail.records import (
    modify_listener,
    noise,
    write_trail,
)

from mtls_doctor.trail.files import read_folder, trail_files
from mtls_doctor.trail.link import Failing, link_causes
from mtls_doctor.trail.select import possible_causes

DAY = datetime(2026, 5, 20, tzinfo=UTC)


def corpus(root: Path, records: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    per_file = max(1, -(-records // 288))
    for n in range(288):
        delivered = DAY + timedelta(minutes=5 * (n + 1))
        batch = noise(delivered - timedelta(minutes=5), per_file)
        for k in range(0, per_file, 50):
            batch[k] = modify_listener(delivered - timedelta(minutes=4), mode="verify")
        write_trail(root, batch, delivered)


def best(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """Best wall and best CPU seconds (CPU: this process, so a busy machine shows less)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).parent / "data" / "trail"
    corpus(root, args.records)
    since, until = DAY, DAY + timedelta(days=1)
    files = trail_files(root, since, until)

    def floor() -> None:
        for path in files:
            json.loads(gzip.decompress(path.read_bytes()))

    read = read_folder(root, since, until)
    at = DAY + timedelta(hours=12)

    def link() -> None:
        link_causes(
            Failing("ClientCertMissing", at), possible_causes(read.events, at), None, read.events
        )

    parse_s, parse_c = best(args.repeat, floor)
    read_s, read_c = best(args.repeat, lambda: read_folder(root, since, until))
    link_s, link_c = best(args.repeat, link)
    print(f"files {len(files)}, records {read.records_read}, ELB events {len(read.events)}")
    print(f"gunzip + json.loads (floor): wall {parse_s:.3f} s, cpu {parse_c:.3f} s")
    print(
        f"read_folder: wall {read_s:.3f} s, cpu {read_c:.3f} s (cpu ratio {read_c / parse_c:.2f})"
    )
    print(
        f"select + link one change point: wall {link_s * 1000:.1f} ms, cpu {link_c * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
