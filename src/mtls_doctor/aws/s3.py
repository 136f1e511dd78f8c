"""``s3://bucket[/prefix]`` as a log input: list what the window needs, fetch it into a cache.

:class:`S3Opener` is the ``s3`` :class:`~mtls_doctor.logs.sources.Opener` the CLI hands to
``logs`` (which never imports this package). Objects are downloaded in parallel into
``<cache>/<bucket>/<key>`` (``s3fetch.py``), hashed as they arrive (the store needs no
second read); a cached file is used again only while the listing still shows its size and
ETag. ALB log objects are
written once, but a key can be replaced by hand (a re-upload, a repaired copy), and its new
content is then fetched. Each object is retried with backoff on throttling and dropped
connections; one that keeps failing, is refused or is gone by the time it is fetched is named
in the scan's ``unreadable`` and the rest go on. A Ctrl-C stops every download and leaves no
partial file behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from mtls_doctor.aws.s3fetch import (
    FetchFailure,
    S3Object,
    cache_path,
    cached_copy,
    fetch_all,
)
from mtls_doctor.aws.s3stream import Downloads
from mtls_doctor.aws.session import translate
from mtls_doctor.errors import InputError
from mtls_doctor.logs.reader import EMPTY_GZIP
from mtls_doctor.logs.sources import LogSource, SourceScan, StoredCopy, classify_name, is_gzip


@dataclass
class Listing:
    """What listing a prefix found, and what it left out."""

    objects: list[S3Object] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    silent: int = 0
    listed: int = 0
    skipped_window: int = 0
    skipped_stored: int = 0


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
    stream: bool = False,
) -> SourceScan:
    """The connection-log files of ``item`` (``s3://bucket[/prefix]``), fetched to the cache,
    or with ``stream``, to be read as they download (and cached on the way).

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
    if stream:
        return _streamed(client, url, listing, wanted, empty, opts)
    fetched, failures = fetch_all(client, url, wanted, opts)
    failures += _empty_failures(url, empty, opts)
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


def _empty_failures(url: S3Url, empty: list[S3Object], opts: RemoteOptions) -> list[FetchFailure]:
    failures = []
    for obj in empty:
        error = InputError(f"{url.url(obj.key)}: {EMPTY_GZIP}")
        failures.append(FetchFailure(url.url(obj.key), error))
        opts.notify(TransferEvent("failed", url.url(obj.key), 1, 0, error.message))
    return failures


def _streamed(
    client: Any,
    url: S3Url,
    listing: Listing,
    wanted: list[S3Object],
    empty: list[S3Object],
    opts: RemoteOptions,
) -> SourceScan:
    """The objects as feeds, read as they download (``s3stream.py``); a current copy in the
    cache is read from there instead, and not downloaded."""
    downloads = Downloads(client, url, opts)
    sources = []
    for obj in wanted:
        target = cache_path(opts.cache_root, url.bucket, obj.key)
        found = cached_copy(target, obj)
        if found is not None:
            opts.notify(TransferEvent("cached", url.url(obj.key), 1, obj.size))
            source = LogSource(url.url(obj.key), target, is_gzip(target), obj.size, found.sha256)
        else:
            feed = downloads.feed(obj)
            source = LogSource(url.url(obj.key), target, True, obj.size, feed=feed)
        sources.append(replace(source, etag=obj.etag))
    failures = _empty_failures(url, empty, opts)
    if failures and not sources:
        raise failures[0].error
    unreadable = sorted((f.url, _reason(f)) for f in failures)
    return SourceScan(tuple(sources), tuple(listing.unknown), listing.silent, tuple(unreadable))


@dataclass(frozen=True)
class S3Opener:
    """The ``s3`` opener of :func:`mtls_doctor.logs.sources.expand_inputs`."""

    options: RemoteOptions = field(default_factory=RemoteOptions)

    def expand(
        self,
        item: str,
        workdir: Path,
        stored: Mapping[str, StoredCopy] | None = None,
        stream: bool = False,
    ) -> SourceScan:
        return expand_s3(item, workdir, self.options, stored, stream)


def s3_openers(options: RemoteOptions | None = None) -> dict[str, S3Opener]:
    """The openers for every scheme this package reads, for ``expand_inputs``."""
    return {"s3": S3Opener(options or RemoteOptions())}
