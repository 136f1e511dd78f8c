"""``s3://bucket[/prefix]`` as a log input: list what the window needs, fetch it into a cache.

:class:`S3Opener` is the ``s3`` :class:`~mtls_doctor.logs.sources.Opener` the CLI hands to
``logs`` (which never imports this package). Objects are downloaded in parallel into
``<cache>/<bucket>/<key>``, hashed as they arrive (the store needs no second read); a cached
file is used again only while the listing still shows its size and ETag. ALB log objects are
written once, but a key can be replaced by hand (a re-upload, a repaired copy), and its new
content is then fetched. Each object is retried with backoff on throttling and dropped
connections; one that keeps failing, is refused or is gone by the time it is fetched is named
in the scan's ``unreadable`` and the rest go on. A Ctrl-C stops every download and leaves no
partial file behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
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
from mtls_doctor.errors import InputError, MtlsDoctorError
from mtls_doctor.logs.reader import TRUNCATED_GZIP
from mtls_doctor.logs.sources import LogSource, SourceScan, StoredCopy, classify_name, is_gzip

_CHUNK = 1024 * 1024
# An ETag is the MD5 of the content for objects uploaded in one part without SSE-KMS (as ELB
# writes them, to SSE-S3 buckets). Other ETags (multipart "...-N", SSE-KMS) say nothing we
# can check a cached file against: the size alone decides then.
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    last_modified: datetime | None = None
    etag: str | None = None  # without its quotes


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
                etag = str(item.get("ETag", "")).strip('"') or None
                yield S3Object(
                    item["Key"], int(item.get("Size", 0)), item.get("LastModified"), etag
                )
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


def list_log_objects(
    client: Any, url: S3Url, opts: RemoteOptions, stored: Mapping[str, StoredCopy] | None = None
) -> Listing:
    """The connection-log objects of ``url`` that the options select, in key order, less
    those ``stored`` holds in their current version."""
    listing = Listing()
    seen: set[str] = set()
    for prefix in _prefixes(client, url, opts):
        for obj in iter_objects(client, url.bucket, prefix):
            if obj.key in seen or obj.key.endswith("/"):
                continue
            seen.add(obj.key)
            listing.listed += 1
            _classify(obj, url, opts, listing, stored or {})
    listing.objects.sort(key=lambda o: o.key)
    return listing


def is_current(obj: S3Object, copy: StoredCopy | None) -> bool:
    """Whether ``copy`` (in a store) is of the object as listed now: same size, same ETag
    (a copy stored before ETags were kept is judged by its size)."""
    if copy is None or copy.size != obj.size:
        return False
    return copy.etag is None or obj.etag is None or copy.etag == obj.etag


def _classify(
    obj: S3Object,
    url: S3Url,
    opts: RemoteOptions,
    listing: Listing,
    stored: Mapping[str, StoredCopy],
) -> None:
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
    if is_current(obj, stored.get(url.url(obj.key))):
        listing.skipped_stored += 1
        return
    listing.objects.append(obj)


def cache_path(root: Path, bucket: str, key: str) -> Path:
    """Where ``key`` is cached; ``.``/``..``/empty key parts are escaped so it stays in root."""
    escape = {"": "%2F", ".": "%2E", "..": "%2E%2E"}
    return root.joinpath(bucket, *(escape.get(part, part) for part in key.split("/")))


@dataclass(frozen=True)
class Fetched:
    """An object in the cache: where, whether it was there already, and its SHA-256."""

    path: Path
    cached: bool
    sha256: str


def _digests(path: Path) -> tuple[str, str]:
    """MD5 and SHA-256 of a cached file, in one read."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _cached(target: Path, obj: S3Object) -> Fetched | None:
    """The cached copy of ``obj``, if it is the object as listed now."""
    if not target.is_file() or target.stat().st_size != obj.size:
        return None
    md5, sha = _digests(target)
    if obj.etag is not None and _MD5_ETAG.match(obj.etag) and md5 != obj.etag:
        return None  # the key was replaced with new content of the same size
    return Fetched(target, True, sha)


def fetch_object(
    client: Any,
    bucket: str,
    obj: S3Object,
    opts: RemoteOptions,
    cancel: threading.Event | None = None,
) -> Fetched:
    """The object in the cache; the file appears there only once it is complete.

    ``cancel`` stops the download within one chunk; the partial file is removed.
    """
    target = cache_path(opts.cache_root, bucket, obj.key)
    found = _cached(target, obj)
    if found is not None:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part-{os.getpid()}-{threading.get_ident()}")
    for attempt in range(1, opts.attempts + 1):
        try:
            digest = _download(client, bucket, obj.key, partial, cancel or threading.Event())
            os.replace(partial, target)
            return Fetched(target, False, digest)
        except BaseException as error:
            partial.unlink(missing_ok=True)  # whatever stopped it, Ctrl-C included
            if not isinstance(error, Exception):
                raise
            if attempt == opts.attempts or not is_transient(error):
                raised = translate(
                    error, action="s3:GetObject", resource=f"s3://{bucket}/{obj.key}"
                )
                if attempt > 1:
                    raised.message += f" after {attempt} attempts"
                raise raised from error
            time.sleep(opts.backoff_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


class _Cancelled(Exception):
    """The fetch was stopped (Ctrl-C in the main thread): not transient, not reported."""


def _download(client: Any, bucket: str, key: str, partial: Path, cancel: threading.Event) -> str:
    """Write the object to ``partial``, hashing it as it arrives; its SHA-256."""
    import botocore.exceptions

    response = client.get_object(Bucket=bucket, Key=key)
    body, written, digest = response["Body"], 0, hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            if cancel.is_set():
                raise _Cancelled(key)
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    expected = response.get("ContentLength")
    if expected is not None and written != expected:
        # A short body is a dropped connection, so it counts as transient.
        raise botocore.exceptions.IncompleteReadError(actual_bytes=written, expected_bytes=expected)
    return digest.hexdigest()


def fetch_all(
    client: Any, url: S3Url, objects: list[S3Object], opts: RemoteOptions
) -> tuple[dict[str, Fetched], list[FetchFailure]]:
    """Fetch ``objects`` in parallel; ``({key: fetched}, failures)``.

    An interrupt (Ctrl-C) stops every download before it is passed on: each thread removes
    its partial file, and nothing is left half-written in the cache.
    """
    fetched: dict[str, Fetched] = {}
    failures: list[FetchFailure] = []
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, opts.workers))
    try:
        futures = {
            pool.submit(fetch_object, client, url.bucket, o, opts, cancel): o for o in objects
        }
        for future in as_completed(futures):
            obj = futures[future]
            try:
                result = future.result()
            except MtlsDoctorError as error:
                failures.append(FetchFailure(url.url(obj.key), error))
                opts.notify(TransferEvent("failed", url.url(obj.key), 1, obj.size, error.message))
                continue
            fetched[obj.key] = result
            event = TransferEvent("fetched", url.url(obj.key), 1, obj.size)
            opts.notify(replace(event, kind="cached") if result.cached else event)
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return fetched, failures


def _reason(failure: FetchFailure) -> str:
    """The error without the object's name in front (the fault names it)."""
    message = failure.error.message
    prefix = failure.url + ": "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _empty_gzip(obj: S3Object) -> bool:
    # A gzip stream holds at least its header: an empty .gz object was cut short.
    return obj.size == 0 and obj.key.endswith(".gz")


def expand_s3(
    item: str,
    workdir: Path,
    remote: RemoteOptions | None = None,
    stored: Mapping[str, StoredCopy] | None = None,
) -> SourceScan:
    """The connection-log files of ``item`` (``s3://bucket[/prefix]``), fetched to the cache.

    Objects that could not be fetched are in ``unreadable``, with the reason. Raises
    :class:`AwsAccessError` when listing is refused or no credentials are found, and the
    first object's error when every object failed.
    """
    opts = remote or RemoteOptions()
    url = S3Url.parse(item)
    client = aws_session.new_client(
        "s3", profile=opts.profile, region=opts.region, pool=opts.workers
    )
    listing = list_log_objects(client, url, opts, stored)
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
    empty = [o for o in listing.objects if _empty_gzip(o)]
    wanted = [o for o in listing.objects if not _empty_gzip(o)]
    fetched, failures = fetch_all(client, url, wanted, opts)
    for obj in empty:
        error = InputError(f"{url.url(obj.key)}: {TRUNCATED_GZIP}; the object is empty")
        failures.append(FetchFailure(url.url(obj.key), error))
        opts.notify(TransferEvent("failed", url.url(obj.key), 1, 0, error.message))
    if failures and not fetched:
        raise failures[0].error
    sources = [
        LogSource(
            url.url(o.key),
            fetched[o.key].path,
            is_gzip(fetched[o.key].path),
            o.size,
            sha256=fetched[o.key].sha256,
            etag=o.etag,
        )
        for o in listing.objects
        if o.key in fetched
    ]
    unreadable = sorted((f.url, _reason(f)) for f in failures)
    return SourceScan(tuple(sources), tuple(listing.unknown), listing.silent, tuple(unreadable))


@dataclass(frozen=True)
class S3Opener:
    """The ``s3`` opener of :func:`mtls_doctor.logs.sources.expand_inputs`."""

    options: RemoteOptions = field(default_factory=RemoteOptions)

    def expand(
        self, item: str, workdir: Path, stored: Mapping[str, StoredCopy] | None = None
    ) -> SourceScan:
        return expand_s3(item, workdir, self.options, stored)


def s3_openers(options: RemoteOptions | None = None) -> dict[str, S3Opener]:
    """The openers for every scheme this package reads, for ``expand_inputs``."""
    return {"s3": S3Opener(options or RemoteOptions())}
