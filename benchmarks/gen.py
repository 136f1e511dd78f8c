"""Generate realistic ALB connection logs: the corpus shared by the tests and the benchmark.

Files are named like ALB objects (``conn_log_<acct>_elasticloadbalancing_<region>_app.<lb>_
<end>_<ip>_<rand>.log.gz``), each holds the 5 minutes before its end time, and every line
is written by :meth:`mtls_doctor.knowledge.fields.LogEntry.to_line`, so the generator never
repeats the format. The mix: subjects with spaces and commas, about 10% failures spread over
several codes, a little plain HTTP, many clients of which some are IPv6.

Run ``python benchmarks/gen.py OUT_DIR --lines 2000000 --files 20`` to write a corpus.

``--format`` writes the same connections as a vended delivery would instead (spec §2): JSON
lines gzipped with string values (``json``), JSON lines gzipped with numbers for ports and
latency and empty values as null or a missing key, alternately (``json-typed``), or Parquet
(``parquet``), one object per legacy file, each record written by
:func:`mtls_doctor.knowledge.fields.vended_record`. UNCONFIRMED (spec §2.2, §2.5): vended
object names, value types, and the Parquet layout (row groups, compression, column types);
readers detect the format from content, so the names here are only plausible ones.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mtls_doctor.knowledge.fields import LogEntry, vended_record
from mtls_doctor.sandbox.logwriter import vended_object_name

ACCOUNT = "123456789012"
REGION = "us-east-2"
LB_ID = "app.my-loadbalancer.1234567890abcdef"
ELB = "app/my-loadbalancer/1234567890abcdef"
START = datetime(2024, 4, 5, 18, 0, tzinfo=UTC)
FAIL_CODES = (
    ("ClientCertUntrusted", 40),
    ("ClientCertExpired", 25),
    ("ClientCertCrlHit", 12),
    ("ClientCertNotYetValid", 8),
    ("ClientCertPurposeInvalid", 6),
    ("ClientCertTypeUnsupported", 5),
    ("UnmappedConnectionError", 4),
)
_ORGS = ("Example Corp", "Payments Team", "ACME, Inc.", "Zürich Labs", "Blue Sky Ltd")
_CITIES = ("San Francisco", "New York", "Seattle", "Frankfurt am Main", "São Paulo")
FORMATS = ("legacy", "json", "json-typed", "parquet")
# UNCONFIRMED (no vended Parquet object has been seen): snappy is pyarrow's and Firehose's
# default codec; 64Ki-row groups give a 100k-line file two groups, so readers meet a boundary.
PARQUET_ROW_GROUP = 65_536
PARQUET_COMPRESSION = "snappy"


@dataclass(frozen=True)
class Client:
    ip: str
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime


def make_clients(rng: random.Random, count: int, ipv6_share: float = 0.1) -> list[Client]:
    """``count`` clients, each with one certificate; ``ipv6_share`` of them on IPv6."""
    clients = []
    for index in range(count):
        if rng.random() < ipv6_share:
            ip = f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
        else:
            first = rng.choice((198, 203, 192))
            ip = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        org, city = rng.choice(_ORGS), rng.choice(_CITIES)
        subject = f"CN=device {index:05d}.example.com,OU={org},O={org},L={city},C=US"
        serial = f"{rng.getrandbits(64):016X}"
        not_before = START - timedelta(days=rng.randrange(30, 700))
        clients.append(Client(ip, subject, serial, not_before, not_before + timedelta(days=730)))
    return clients


def _status(rng: random.Random, fail_rate: float) -> str:
    roll = rng.random()
    if roll < 0.02:
        return "-"
    if roll < 0.02 + fail_rate:
        codes, weights = zip(*FAIL_CODES, strict=True)
        return "Failed:" + rng.choices(codes, weights)[0]
    return "Success"


def entry(rng: random.Random, client: Client, at: datetime, status: str, node: str) -> LogEntry:
    """One connection of ``client`` at ``at`` with ``status`` (``-`` means plain HTTP)."""
    tls = status != "-"
    return LogEntry(
        timestamp=at,
        client_ip=client.ip,
        client_port=rng.randrange(1024, 65536),
        listener_port=443 if tls else 80,
        tls_protocol=rng.choice(("TLSv1.2", "TLSv1.3")) if tls else None,
        tls_cipher="ECDHE-RSA-AES128-GCM-SHA256" if tls else None,
        tls_handshake_latency=round(rng.uniform(0.001, 0.2), 3) if status == "Success" else None,
        leaf_client_cert_subject=client.subject if tls else None,
        not_before=client.not_before if tls else None,
        not_after=client.not_after if tls else None,
        leaf_client_cert_serial_number=client.serial if tls else None,
        tls_verify_status=status,
        conn_trace_id=f"TID_{rng.getrandbits(128):032x}",
        tls_keyexchange="x25519" if tls else None,
        elb=ELB,
        ip_address=node,
    )


def file_name(end: datetime, node: str, rng: random.Random) -> str:
    """An ALB object name; the node address is zero-padded as in the AWS example."""
    padded = ".".join(f"{int(part):03d}" for part in node.split("."))
    rand = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=8))
    return (
        f"conn_log_{ACCOUNT}_elasticloadbalancing_{REGION}_{LB_ID}_"
        f"{end.strftime('%Y%m%dT%H%MZ')}_{padded}_{rand}.log.gz"
    )


def file_entries(
    rng: random.Random, clients: list[Client], end: datetime, lines: int, node: str, fail: float
) -> Iterator[LogEntry]:
    """``lines`` connections spread over the 5 minutes before ``end``, in time order."""
    step = timedelta(minutes=5) / max(lines, 1)
    start = end - timedelta(minutes=5)
    for index in range(lines):
        client = clients[min(int(rng.paretovariate(1.2)) - 1, len(clients) - 1)]
        if rng.random() < 0.7:
            client = rng.choice(clients)
        yield entry(rng, client, start + step * index, _status(rng, fail), node)


def file_lines(
    rng: random.Random, clients: list[Client], end: datetime, lines: int, node: str, fail: float
) -> Iterator[str]:
    """The legacy lines of :func:`file_entries`."""
    for item in file_entries(rng, clients, end, lines, node, fail):
        yield item.to_line()


def json_lines(entries: Iterable[LogEntry], *, typed: bool) -> bytes:
    """JSON lines: string values with ``-`` for empty, or (``typed``) numbers with empty
    values alternately null and left out, so one file holds both spellings."""
    empties = ("null", "missing") if typed else ("dash",)
    out = []
    for index, item in enumerate(entries):
        record = vended_record(item, typed=typed, empty=empties[index % len(empties)])
        out.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out).encode()


def write_parquet(path: Path, entries: Iterable[LogEntry], row_group: int) -> None:
    """Typed columns with nulls for empty values (UNCONFIRMED, spec §2.2: ``time`` is kept as
    the ISO string the JSON has, ports as int32, the latency as a double)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"client_port": pa.int32(), "listener_port": pa.int32()}
    types["tls_handshake_latency"] = pa.float64()
    records = [vended_record(item, typed=True, empty="null") for item in entries]
    names = list(records[0]) if records else ["time"]
    schema = pa.schema([(name, types.get(name, pa.string())) for name in names])
    table = pa.Table.from_pylist(records, schema=schema)
    pq.write_table(table, path, row_group_size=row_group, compression=PARQUET_COMPRESSION)


def write_corpus(
    out: Path,
    *,
    lines: int,
    files: int,
    seed: int = 7,
    clients: int = 5000,
    fail_rate: float = 0.10,
    processes: int = 1,
    fmt: str = "legacy",
    row_group: int = PARQUET_ROW_GROUP,
) -> list[Path]:
    """Write ``files`` files holding ``lines`` connections in all, in format ``fmt`` (one of
    :data:`FORMATS`); return their paths.

    The output depends only on the arguments (each file has its own seeded generator), and
    every format holds the same connections, file by file and line by line.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    per_file, rest = divmod(lines, files)
    jobs = [
        (
            out,
            seed,
            number,
            per_file + (1 if number < rest else 0),
            clients,
            fail_rate,
            fmt,
            row_group,
        )
        for number in range(files)
    ]
    if processes > 1:
        from multiprocessing import Pool

        with Pool(processes) as pool:
            return pool.starmap(_write_file, jobs)
    return [_write_file(*job) for job in jobs]


def _write_file(
    out: Path,
    seed: int,
    number: int,
    count: int,
    clients: int,
    fail_rate: float,
    fmt: str = "legacy",
    row_group: int = PARQUET_ROW_GROUP,
) -> Path:
    pool = make_clients(random.Random(seed), clients)
    rng = random.Random(seed * 100_003 + number)
    nodes = ("172.160.1.192", "172.160.2.17")
    node = nodes[number % len(nodes)]
    end = START + timedelta(minutes=5 * (number // len(nodes) + 1))
    name = file_name(end, node, rng)
    entries = file_entries(rng, pool, end, count, node, fail_rate)
    if fmt == "legacy":
        path = out / name
        body = "".join(item.to_line() + "\n" for item in entries)
        path.write_bytes(_compress(body.encode()))
        return path
    path = out / vended_object_name(name, fmt)
    if fmt == "parquet":
        write_parquet(path, entries, row_group)
    else:
        path.write_bytes(_compress(json_lines(entries, typed=fmt == "json-typed")))
    return path


def _compress(data: bytes) -> bytes:
    try:
        from isal import igzip  # same gzip format, much faster to write large corpora

        return bytes(igzip.compress(data, compresslevel=3))
    except ImportError:  # pragma: no cover
        import gzip

        return gzip.compress(data, compresslevel=6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--format", choices=FORMATS, default="legacy", dest="fmt")
    parser.add_argument("--row-group", type=int, default=PARQUET_ROW_GROUP)
    args = parser.parse_args(argv)
    paths = write_corpus(
        args.out,
        lines=args.lines,
        files=args.files,
        seed=args.seed,
        processes=args.processes,
        fmt=args.fmt,
        row_group=args.row_group,
    )
    print(f"wrote {len(paths)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
