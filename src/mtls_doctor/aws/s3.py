"""``s3://bucket[/prefix]`` as a log input: list what the window needs, fetch it into a cache.

Importing this module registers :func:`expand_s3` as the ``s3`` scheme of
:mod:`mtls_doctor.logs.sources`. Objects are downloaded in parallel into
``<cache>/<bucket>/<key>``; a cached file of the listed size is not fetched again (ALB log
objects are written once and never changed). Each object is retried with backoff on
throttling and dropped connections; one that keeps failing is reported and the rest go on.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.layout import (
    AWSLOGS,
    ConnLogName,
    S3Url,
    day_prefix,
    day_range,
    in_window,
    lb_matches,
    split_after_awslogs,
)
from mtls_doctor.aws.options import RemoteOptions, TransferEvent
from mtls_doctor.aws.session import is_transient, translate
from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.logs.sources import SCHEMES, LogSource, SourceScan, classify_name, is_gzip

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    last_modified: datetime | None = None


@dataclass
class Listing:
    """What listing a prefix found, and what it left out."""

    objects: list[S3Object] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    silent: int = 0
    listed: int = 0
    skipped_window: int = 0
    skipped_stored: int = 0


@dataclass(frozen=True)
class FetchFailure:
    url: str
    error: MtlsDoctorError


def iter_objects(client: Any, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under ``prefix`` (recursive), in key order."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield S3Object(item["Key"], int(item.get("Size", 0)), item.get("LastModified"))
    except Exception as error:
        raise translate(
            error, action="s3:ListBucket", resource=f"s3://{bucket}/{prefix}"
        ) from error


def child_folders(client: Any, bucket: str, prefix: str) -> list[str]:
    """The folder names directly under ``prefix`` (``CommonPrefixes`` with ``/``)."""
    names: list[str] = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            names += [
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            ]
    except Exception as error:
        raise translate(
            error, action="s3:ListBucket", resource=f"s3://{bucket}/{prefix}"
        ) from error
    return names


def _region_folders(
    client: Any, url: S3Url, root: str, parts: list[str], opts: RemoteOptions
) -> list[str]:
    """``<root><account>/elasticloadbalancing/<region>/`` folders to read."""
    accounts = parts[:1] or (
        [opts.account] if opts.account else child_folders(client, url.bucket, root)
    )
    folders = []
    for account in accounts:
        service = f"{root}{account}/elasticloadbalancing/"
        regions = parts[2:3] or (
            [opts.region] if opts.region else child_folders(client, url.bucket, service)
        )
        folders += [f"{service}{region}/" for region in regions]
    return folders


def _prefixes(client: Any, url: S3Url, opts: RemoteOptions) -> list[str]:
    """The prefixes to list recursively for ``url`` and the window of ``opts``."""
    prefix = url.prefix
    root, parts = split_after_awslogs(prefix)
    if not parts and AWSLOGS not in prefix:
        base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        if not child_folders(client, url.bucket, base + AWSLOGS):
            return [prefix]  # not an ALB log root: read the names found under it
        root = base + AWSLOGS
    if len(parts) > 3:  # a day folder or a key was given: read just that
        return [prefix]
    folders = _region_folders(client, url, root, parts, opts)
    if opts.since is None:
        return folders
    until = opts.until or opts.now or datetime.now(UTC)
    days = [day_prefix(d) for d in day_range(opts.since, until)]
    return [folder + day for folder in folders for day in days]


def _wanted(name: ConnLogName, opts: RemoteOptions) -> tuple[bool, bool]:
    """``(selected, left_out_by_window)`` for a parsed connection-log name."""
    if opts.account and name.account != opts.account:
        return False, False
    if opts.region and name.region != opts.region:
        return False, False
    if opts.lb and not lb_matches(name.lb_id, opts.lb):
        return False, False
    fits = in_window(
        name.end,
        opts.since,
        opts.until,
        interval_minutes=opts.interval_minutes,
        slack_minutes=opts.slack_minutes,
    )
    return fits, not fits


def list_log_objects(client: Any, url: S3Url, opts: RemoteOptions) -> Listing:
    """The connection-log objects of ``url`` that the options select, in key order."""
    listing = Listing()
    seen: set[str] = set()
    for prefix in _prefixes(client, url, opts):
        for obj in iter_objects(client, url.bucket, prefix):
            if obj.key in seen or obj.key.endswith("/"):
                continue
            seen.add(obj.key)
            listing.listed += 1
            _classify(obj, url, opts, listing)
    listing.objects.sort(key=lambda o: o.key)
    return listing


def _classify(obj: S3Object, url: S3Url, opts: RemoteOptions, listing: Listing) -> None:
    kind = classify_name(obj.key.rsplit("/", 1)[-1])
    if kind == "silent":
        listing.silent += 1
        return
    if kind == "unknown":
        listing.unknown.append(url.url(obj.key))
        return
    parsed = ConnLogName.parse(obj.key.rsplit("/", 1)[-1])
    if parsed is not None:
        selected, by_window = _wanted(parsed, opts)
        if not selected:
            listing.skipped_window += int(by_window)
            return
    if url.url(obj.key) in opts.skip_sources:
        listing.skipped_stored += 1
        return
    listing.objects.append(obj)


def cache_path(root: Path, bucket: str, key: str) -> Path:
    """Where ``key`` is cached; ``.``/``..``/empty key parts are escaped so it stays in root."""
    escape = {"": "%2F", ".": "%2E", "..": "%2E%2E"}
    return root.joinpath(bucket, *(escape.get(part, part) for part in key.split("/")))


def fetch_object(client: Any, bucket: str, obj: S3Object, opts: RemoteOptions) -> tuple[Path, bool]:
    """``(path, was_cached)``; the file appears in the cache only once it is complete."""
    target = cache_path(opts.cache_root, bucket, obj.key)
    if target.is_file() and target.stat().st_size == obj.size:
        return target, True
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part-{os.getpid()}-{threading.get_ident()}")
    for attempt in range(1, opts.attempts + 1):
        try:
            _download(client, bucket, obj.key, partial)
            os.replace(partial, target)
            return target, False
        except Exception as error:
            partial.unlink(missing_ok=True)
            if attempt == opts.attempts or not is_transient(error):
                raised = translate(
                    error, action="s3:GetObject", resource=f"s3://{bucket}/{obj.key}"
                )
                if attempt > 1:
                    raised.message += f" after {attempt} attempts"
                raise raised from error
            time.sleep(opts.backoff_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _download(client: Any, bucket: str, key: str, partial: Path) -> None:
    import botocore.exceptions

    response = client.get_object(Bucket=bucket, Key=key)
    body, written = response["Body"], 0
    with partial.open("wb") as out:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            out.write(chunk)
            written += len(chunk)
    expected = response.get("ContentLength")
    if expected is not None and written != expected:
        # A short body is a dropped connection, so it counts as transient.
        raise botocore.exceptions.IncompleteReadError(actual_bytes=written, expected_bytes=expected)


def fetch_all(
    client: Any, url: S3Url, objects: list[S3Object], opts: RemoteOptions
) -> tuple[dict[str, Path], list[FetchFailure]]:
    """Fetch ``objects`` in parallel; ``({key: path}, failures)``."""
    paths: dict[str, Path] = {}
    failures: list[FetchFailure] = []
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        futures = {pool.submit(fetch_object, client, url.bucket, o, opts): o for o in objects}
        for future in as_completed(futures):
            obj = futures[future]
            try:
                path, cached = future.result()
            except MtlsDoctorError as error:
                failures.append(FetchFailure(url.url(obj.key), error))
                opts.notify(TransferEvent("failed", url.url(obj.key), 1, obj.size, error.message))
                continue
            paths[obj.key] = path
            event = TransferEvent("cached" if cached else "fetched", url.url(obj.key), 1, obj.size)
            opts.notify(event)
    return paths, failures


def expand_s3(item: str, workdir: Path, remote: RemoteOptions | None = None) -> SourceScan:
    """The connection-log files of ``item`` (``s3://bucket[/prefix]``), fetched to the cache.

    Raises :class:`AwsAccessError` when listing is refused or no credentials are found, and
    the first object's error when every object failed.
    """
    opts = remote or RemoteOptions()
    url = S3Url.parse(item)
    client = aws_session.new_client(
        "s3", profile=opts.profile, region=opts.region, pool=opts.workers
    )
    listing = list_log_objects(client, url, opts)
    opts.notify(
        TransferEvent(
            "planned",
            url.url(),
            files=len(listing.objects),
            size=sum(o.size for o in listing.objects),
            listed=listing.listed,
            skipped_stored=listing.skipped_stored,
            skipped_window=listing.skipped_window,
        )
    )
    paths, failures = fetch_all(client, url, listing.objects, opts)
    if failures and not paths:
        raise failures[0].error
    sources = [
        LogSource(url.url(o.key), paths[o.key], is_gzip(paths[o.key]), o.size)
        for o in listing.objects
        if o.key in paths
    ]
    return SourceScan(tuple(sources), tuple(listing.unknown), listing.silent)


SCHEMES["s3"] = expand_s3
