"""Append log files to the store in bulk: many whole files per transaction.

Files are read by the same reader as ``logs query``, a group of files at a time, and each
group is committed in one transaction by a handful of set-wise statements: the rows of every
file, their malformed lines, and one ``files`` entry per file. A file's rows and its
``files`` entry therefore always commit together, and a killed ingest leaves whole files only
(whole groups, in fact); a re-run completes the store.

How the rows go in, from either reader, is in ``insert.py``.

What costs per file is done once per run or once per group: hashing and the lookup of
stored hashes (``fresh.py``), the ``files`` entries (one statement per group), the
malformed lines (one statement, numbered by one rescan of the files that hold any).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from mtls_doctor.errors import LogFormatError
from mtls_doctor.knowledge.fields import FIELD_NAMES
from mtls_doctor.logs import native
from mtls_doctor.logs.fresh import GROUP_BYTES, STREAM_GROUP_BYTES, Fresh, empty_gzip, groups, plan
from mtls_doctor.logs.insert import ID_MAP, insert_read, insert_staged, stage
from mtls_doctor.logs.parse import unknown_code_sql
from mtls_doctor.logs.reader import (
    EMPTY_GZIP,
    FileFault,
    FileSet,
    ParseIssue,
    locate_lines,
)
from mtls_doctor.logs.readpolicy import enforce
from mtls_doctor.logs.sources import LogSource
from mtls_doctor.logs.store import ROWS, IngestedFile, Store

# DuckDB's own memory (see append_sources), which shares the RSS budget with the compiled
# reader's chunks (insert.CHUNK_BYTES). Each DuckDB thread fills a row group of about 40 MB of
# uncompressed segments and compresses it: at 112 MB the two threads' row groups spilled to
# temporary files (compressed, then read back), 0.85 CPU-s of an ingest of 2M lines. 144 MB
# with 2 MiB chunks spills nothing; peak RSS 361-369 MiB (112 MB with 8 MiB chunks:
# 424 MiB, as one group).
MEMORY_LIMIT = "144MB"
MAX_LOCATED = 10_000  # malformed lines numbered per group (each needs a rescan of its file)


def append_group(
    store: Store,
    group: list[Fresh],
    workdir: Path,
    now: datetime,
    strict: bool = False,
) -> list[IngestedFile]:
    """Read ``group`` and commit it in one transaction (or a few: see ``insert_read``);
    what each file added, in order.

    With ``strict``, the files before the first one with a malformed line or a fault are
    committed, and :class:`LogFormatError` is raised for that one.
    """
    results: list[IngestedFile] = []
    while group:
        done, group = _append_part(store, group, workdir, now, strict)
        results += done
    return results


def _append_part(
    store: Store, group: list[Fresh], workdir: Path, now: datetime, strict: bool
) -> tuple[list[IngestedFile], list[Fresh]]:
    """Commit the first files of ``group`` in one transaction: what each added, and the
    files left for another (when the lines the scanner declined grew too many)."""
    con = store.con
    rest: list[Fresh] = []
    fileset = FileSet([item.source for item in group], workdir)
    tables = _Tables(f"stage_{os.getpid()}", f"malformed_{os.getpid()}")
    stop: tuple[int, LogFormatError] | None = None
    try:
        if not native.available():
            # Outside the transaction: a failed read aborts a DuckDB transaction, and the
            # pure reader fails on a damaged file before it reads a repaired copy.
            stage(con, fileset, tables.stage)
        with store.transaction():
            ids = [int(i) for i in _new_ids(con, len(group))]
            # A repaired file has a new path (the pure reader's repair).
            staged = {s.display: str(s.path) for s in fileset.sources}
            names = [staged[item.source.display] for item in group]
            params = {"names": names, "ids": ids}
            numbered: dict[str, dict[str, int]] = {}
            if native.available():
                read = insert_read(con, fileset, params, tables.malformed, workdir)
                numbered, rest = read.numbered, group[read.taken :]
                group, ids, names = group[: read.taken], ids[: read.taken], names[: read.taken]
            else:
                insert_staged(con, params, tables.stage, tables.malformed)
            bad = con.execute(
                f"SELECT filename, line, error FROM {tables.malformed} LIMIT {MAX_LOCATED}"
            ).fetchall()
            issues = locate_lines(fileset, bad, MAX_LOCATED, numbered)
            faults = {fault.file: fault for fault in fileset.faults}
            group, ids, names, dropped = _drop_fed(con, group, ids, names, tables.malformed)
            params = {"names": names, "ids": ids}
            stop = _strict_stop(group, issues, faults) if strict else None
            if stop is not None:
                group, ids, names = group[: stop[0]], ids[: stop[0]], names[: stop[0]]
                _forget_after(con, tables.malformed, ids, names, params)
            _delete_older(con, group)
            _insert_errors(con, tables.malformed, {"names": names, "ids": ids}, issues, group)
            counts = _file_counts(con, tables.malformed, ids, names)
            results = dropped + _insert_files(con, group, ids, counts, faults, now)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {tables.stage}")
        con.execute(f"DROP TABLE IF EXISTS {tables.malformed}")
    if stop is not None:
        raise stop[1]
    return results, rest


@dataclass(frozen=True)
class _Tables:
    stage: str  # the pure reader's parsed rows
    malformed: str  # filename, line, error, has_extra_fields, unknown_code of malformed lines


def _new_ids(con: duckdb.DuckDBPyConnection, count: int) -> list[int]:
    rows = con.execute("SELECT list(nextval('file_ids')) FROM range($n)", {"n": count}).fetchall()
    return list(rows[0][0])


def _digest(item: Fresh) -> str:
    feed = item.source.feed
    return item.digest if feed is None or feed.sha256 is None else feed.sha256


def _drop_fed(
    con: duckdb.DuckDBPyConnection,
    group: list[Fresh],
    ids: list[int],
    names: list[str],
    malformed: str,
) -> tuple[list[Fresh], list[int], list[str], list[IngestedFile]]:
    """Take back the rows of the fed files (S3 downloads, hashed as they were read) that
    could not be fetched whole (not stored, as a file that cannot be opened), or whose
    content the store holds already (added nothing, as any such file)."""
    fed = [_digest(item) for item in group if item.source.feed is not None]
    if not fed:
        return group, ids, names, []
    rows = con.execute("SELECT sha256 FROM files WHERE list_contains($d, sha256)", {"d": fed})
    known = {digest for (digest,) in rows.fetchall()}
    keep: list[int] = []
    dropped: list[IngestedFile] = []
    for index, item in enumerate(group):
        feed, display = item.source.feed, item.source.display
        if feed is not None and feed.failure is not None:
            fault = f"cannot read: {feed.failure}"
            dropped.append(replace(IngestedFile(display, "unread", 0, 0, fault), fault_lines=0))
        elif feed is not None and _digest(item) in known:
            dropped.append(IngestedFile(display, "unchanged", 0, 0, None))
        else:
            known.add(_digest(item))
            keep.append(index)
            continue
        con.execute(f"DELETE FROM {ROWS} WHERE file_id = $id", {"id": ids[index]})
        con.execute(f"DELETE FROM {malformed} WHERE filename = $n", {"n": names[index]})
    if dropped:
        group = [group[i] for i in keep]
        ids, names = [ids[i] for i in keep], [names[i] for i in keep]
    return group, ids, names, dropped


def _forget_after(
    con: duckdb.DuckDBPyConnection,
    malformed: str,
    ids: list[int],
    names: list[str],
    params: dict[str, Any],
) -> None:
    """Take back the rows of the files from the strict stop on (not committed)."""
    dropped = [i for i in params["ids"] if i not in set(ids)]
    con.execute(f"DELETE FROM {ROWS} WHERE list_contains($d, file_id)", {"d": dropped})
    con.execute(
        f"DELETE FROM {malformed} WHERE NOT list_contains($names, filename)", {"names": names}
    )


def _delete_older(con: duckdb.DuckDBPyConnection, group: list[Fresh]) -> None:
    old = [file_id for item in group for file_id in item.replaces]
    if old:
        for table in (ROWS, "parse_errors", "files"):
            con.execute(f"DELETE FROM {table} WHERE list_contains($old, file_id)", {"old": old})


def _strict_stop(
    group: list[Fresh], issues: list[ParseIssue], faults: dict[str, FileFault]
) -> tuple[int, LogFormatError] | None:
    """The first file of ``group`` that ``--strict`` refuses (the one read policy), and why."""
    for index, item in enumerate(group):
        name = item.source.display
        mine = [issue for issue in issues if issue.file == name]
        fault = faults.get(name)
        try:
            enforce(mine, [] if fault is None else [fault])
        except LogFormatError as error:
            return index, error
    return None


def _file_counts(
    con: duckdb.DuckDBPyConnection, malformed: str, ids: list[int], names: list[str]
) -> list[tuple[Any, ...]]:
    """Per file: rows, malformed, extra-field lines, unknown-code lines, first and last time.

    Read from what was just inserted: the group's ids are one range at the table's end."""
    if not ids:
        return []
    good = {
        row[0]: row[1:]
        for row in con.execute(
            f"SELECT file_id, count(*), count(*) FILTER (field_count > {len(FIELD_NAMES)}), "
            f"count(*) FILTER ({unknown_code_sql('tls_verify_status')}), "
            f"min(timestamp), max(timestamp) FROM {ROWS} "
            "WHERE file_id BETWEEN $lo AND $hi GROUP BY file_id",
            {"lo": min(ids), "hi": max(ids)},
        ).fetchall()
    }
    bad = {
        row[0]: row[1:]
        for row in con.execute(
            f"SELECT filename, count(*), count(*) FILTER (has_extra_fields), "
            f"count(*) FILTER (unknown_code) FROM {malformed} GROUP BY filename"
        ).fetchall()
    }
    counts = []
    for file_id, name in zip(ids, names, strict=True):
        rows, extra, unknown, first, last = good.get(file_id, (0, 0, 0, None, None))
        errors, bad_extra, bad_unknown = bad.get(name, (0, 0, 0))
        counts.append((rows, errors, extra + bad_extra, unknown + bad_unknown, first, last))
    return counts


def _insert_errors(
    con: duckdb.DuckDBPyConnection,
    malformed: str,
    params: dict[str, Any],
    issues: list[ParseIssue],
    group: list[Fresh],
) -> None:
    # Each malformed line with the number it has in its file (found by locate_lines); the
    # same text twice in a file gets the first number.
    staged = dict(zip([i.source.display for i in group], params["names"], strict=True))
    numbered: dict[tuple[str, str], int | None] = {}
    for issue in issues:
        if issue.file in staged:
            numbered.setdefault((staged[issue.file], issue.text), issue.line)
    con.execute(
        f"INSERT INTO parse_errors SELECT m.file_id, n.line_no, s.error, left(s.line, 2000) "
        f"FROM {malformed} s JOIN {ID_MAP} m USING (filename) "
        "LEFT JOIN (SELECT unnest($at_file) AS filename, unnest($at_text) AS line, "
        "unnest($at_line)::BIGINT AS line_no) n ON s.filename = n.filename AND s.line = n.line",
        {
            **params,
            "at_file": [key[0] for key in numbered],
            "at_text": [key[1] for key in numbered],
            "at_line": list(numbered.values()),
        },
    )


def _insert_files(
    con: duckdb.DuckDBPyConnection,
    group: list[Fresh],
    ids: list[int],
    counts: list[tuple[Any, ...]],
    faults: dict[str, FileFault],
    now: datetime,
) -> list[IngestedFile]:
    if not group:
        return []
    messages = [getattr(faults.get(i.source.display), "message", None) for i in group]
    columns: dict[str, list[Any]] = {
        "file_id": ids,
        "source": [item.source.display for item in group],
        "size": [item.source.size for item in group],
        "sha256": [_digest(item) for item in group],
        "rows": [c[0] for c in counts],
        "malformed": [c[1] for c in counts],
        "extra_field_lines": [c[2] for c in counts],
        "unknown_code_lines": [c[3] for c in counts],
        "first_seen": [c[4] for c in counts],
        "last_seen": [c[5] for c in counts],
        "fault": messages,
        "etag": [item.source.etag for item in group],
    }
    moment = now.astimezone(UTC).replace(tzinfo=None)
    values = ", ".join(f"unnest(${name})" for name in columns)
    con.execute(
        f"INSERT INTO files ({', '.join(columns)}, ingested_at) SELECT {values}, $now::TIMESTAMP",
        {**columns, "now": moment},
    )
    results = []
    for item, count, message in zip(group, counts, messages, strict=True):
        status = "replaced" if item.replaces else "added"
        added = IngestedFile(item.source.display, status, int(count[0]), int(count[1]), message)
        fault = faults.get(item.source.display)
        if fault is not None:
            added = replace(added, fault_lines=fault.lines_read, fault_complete=fault.complete)
        results.append(added)
    return results


def append_sources(
    store: Store,
    sources: Sequence[LogSource],
    workdir: Path,
    *,
    now: datetime,
    strict: bool = False,
    on_done: Callable[[IngestedFile], None] | None = None,
) -> list[IngestedFile]:
    """Add ``sources`` to the store; a file whose content is stored already adds nothing."""
    empty = [source for source in sources if empty_gzip(source)]
    if strict and empty:
        enforce([], [FileFault(empty[0].display, EMPTY_GZIP, 0)])
    sources = [source for source in sources if source not in empty]
    fresh, unchanged = plan(store, sources)
    # Blocks already written stay cached up to DuckDB's limit (80% of RAM by default): an
    # ingest of any size keeps to a bounded RSS instead (the writes go to disk anyway).
    store.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    # Each transaction ends with a partial row group. At the checkpoint that closes the
    # store, DuckDB would merge neighbouring small row groups (its "vacuum"), compressing
    # their rows a second time, single-threaded: 1.7-4.6 CPU-s on 2M lines. Rows are only
    # deleted when a file is replaced (or a download dropped): only then is it left on.
    store.con.execute("SET max_vacuum_tasks = 0")
    results = [IngestedFile(s.display, "unread", 0, 0, EMPTY_GZIP) for s in empty]
    if on_done:
        for item in results:
            on_done(item)
    for index in sorted(unchanged):
        results.append(IngestedFile(sources[index].display, "unchanged", 0, 0, None))
        if on_done:
            on_done(results[-1])
    deleted = True  # until the groups are all in without an exception
    try:
        for group in groups(fresh, STREAM_GROUP_BYTES if native.available() else GROUP_BYTES):
            for item in append_group(store, group, workdir, now, strict):
                results.append(item)
                if on_done:
                    on_done(item)
        deleted = any(item.status in _DELETED for item in results[len(empty) + len(unchanged) :])
    finally:
        if deleted:
            with contextlib.suppress(duckdb.Error):  # a failed connection: nothing to tidy
                store.con.execute("RESET max_vacuum_tasks")
    return results


# What append_group says of a file whose rows it deleted: an older copy replaced, or a
# download dropped after its rows were read (_drop_fed: "unchanged" or "unread").
_DELETED = ("replaced", "unchanged", "unread")
