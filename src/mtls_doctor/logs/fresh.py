"""Which inputs an ingest must read: each hashed once, and compared with the store in one
query, not one round trip per file.

A file whose content (SHA-256) the store holds adds nothing. S3 objects come hashed already
(as they were downloaded, or as they are read when they are read as they download: then
``append.py`` drops the rows of one whose content turns out to be stored); local files are
hashed by a thread per core.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mtls_doctor.logs.sources import LogSource, StoredCopy
from mtls_doctor.logs.store import Store

# A group is committed as one transaction. With the pure reader its rows are staged in
# memory first, so it is bounded by compressed bytes (about 6x that in text) and by files.
# MTLS_DOCTOR_INGEST_GROUP_FILES sets the files per transaction (the tests make it small).
GROUP_FILES = int(os.environ.get("MTLS_DOCTOR_INGEST_GROUP_FILES") or 2000)
GROUP_BYTES = 16 * 1024 * 1024
# The compiled reader streams a group's rows into the store (nothing staged), so its groups
# are bounded only to bound the work a killed run loses. They must be large: each DuckDB
# thread compresses and writes the row groups (122,880 rows) it fills, in parallel, but what
# is left when the INSERT ends is merged and written by the committing thread alone. At
# 16 MiB (two files of 100k lines here) no thread ever filled a row group: the main thread
# did two thirds of DuckDB's work, and 2M lines took 5.1 s (3.3 s as one group). The lines
# the scanner declines are kept aside for a group (insert._Spool: in memory up to 32 MiB,
# then a file in the scratch folder); logs it declines whole (every client an IPv4 address
# written inside IPv6, say) would keep about 6x this in text there, so a group's
# transaction ends early at a file once they pass insert.SPOOL_LIMIT.
STREAM_GROUP_BYTES = 128 * 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Fresh:
    """A file to add: its source, hash, and the ids of older copies it replaces."""

    source: LogSource
    digest: str
    replaces: tuple[int, ...]


def stored_copies(store: Store) -> dict[str, StoredCopy]:
    """``source -> (size, etag)`` of the remote objects the store holds whole."""
    rows = store.con.execute(
        "SELECT source, size, etag FROM files WHERE fault IS NULL AND source LIKE '%://%'"
    ).fetchall()
    return {source: StoredCopy(size, etag) for source, size, etag in rows}


def _hashes(sources: Sequence[LogSource]) -> list[str]:
    # hashlib lets go of the GIL on large reads: a thread per core hashes big files at
    # disk speed, and many small ones without a round trip each.
    todo = [s.path for s in sources if s.sha256 is None and s.feed is None]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = iter(list(pool.map(sha256_file, todo, chunksize=16)))
    # A fed file (an S3 download) is hashed as it is read: "" until then (append.py).
    return ["" if s.feed is not None else s.sha256 or next(done) for s in sources]


def empty_gzip(source: LogSource) -> bool:
    """A 0-byte file named as gzip: cut short before its first byte, so a truncated file
    (as the reader words it), and never stored: every empty file has the same hash."""
    names = (source.display.lower(), source.path.name.lower())
    return source.size == 0 and not source.gzip and any(n.endswith(".gz") for n in names)


def plan(store: Store, sources: Sequence[LogSource]) -> tuple[list[Fresh], set[int]]:
    """The files to add (in order) and the indexes of those already stored.

    A stored copy of the same name is replaced when it was cut short (a fault), or when it
    is a remote object (``s3://...``) whose content changed since.
    """
    digests = _hashes(sources)
    known = {d for (d,) in store.con.execute("SELECT DISTINCT sha256 FROM files").fetchall()}
    older: dict[str, list[int]] = {}
    for file_id, source in store.con.execute(
        "SELECT file_id, source FROM files WHERE fault IS NOT NULL OR source LIKE '%://%'"
    ).fetchall():
        older.setdefault(source, []).append(file_id)
    fresh: list[Fresh] = []
    unchanged: set[int] = set()
    for index, (source, digest) in enumerate(zip(sources, digests, strict=True)):
        if digest and digest in known:
            unchanged.add(index)
            continue
        known.add(digest)
        fresh.append(Fresh(source, digest, tuple(older.get(source.display, ()))))
    return fresh, unchanged


def groups(fresh: Sequence[Fresh], max_bytes: int = GROUP_BYTES) -> Iterator[list[Fresh]]:
    """Consecutive groups of at most GROUP_FILES files and about ``max_bytes``."""
    group: list[Fresh] = []
    size = 0
    for item in fresh:
        if group and (len(group) >= GROUP_FILES or size + item.source.size > max_bytes):
            yield group
            group, size = [], 0
        group.append(item)
        size += item.source.size
    if group:
        yield group
