"""``s3://bucket[/prefix]`` as a log input: list what the window needs, fetch it into a cache.

:class:`S3Opener` is the ``s3`` :class:`~mtls_doctor.logs.sources.Opener` the CLI hands to
``logs`` (which never imports this package). Objects are downloaded in parallel into
``<cache>/<bucket>/<key>`` (``s3fetch.py``), hashed as they arrive (the store needs no
second read), or, for ``ingest`` (``stream``), read as they download and cached on the way
(``s3stream.py``); a cached file is used again only while the listing still shows its size
and ETag. ALB log objects are
written once, but a key can be replaced by hand (a re-upload, a repaired copy), and its new
content is then fetched. Each object is retried with backoff on throttling and dropped
connections; one that keeps failing, is refused or is gone by the time it is fetched is named
in the scan's ``unreadable`` and the rest go on. A Ctrl-C stops every download and leaves no
partial file behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions, TransferEvent
from mtls_doctor.aws.s3fetch import (
    Fetched,
    FetchFailure,
    S3Object,
    cache_path,
    cached_copy,
    fetch_all,
)
from mtls_doctor.aws.s3list import (
    Listing,
    child_folders,
    is_current,
    iter_objects,
    list_log_objects,
)
from mtls_doctor.aws.s3stream import Downloads
from mtls_doctor.errors import InputError
from mtls_doctor.logs.reader import EMPTY_GZIP
from mtls_doctor.logs.sources import LogSource, SourceScan, StoredCopy, content_kind, is_gzip

__all__ = [
    "Listing",
    "S3Opener",
    "child_folders",
    "expand_s3",
    "is_current",
    "iter_objects",
    "list_log_objects",
    "s3_openers",
]


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
            files=len(listing.objects) + len(listing.by_content),
            size=sum(o.size for o in (*listing.objects, *listing.by_content)),
            listed=listing.listed,
            skipped_stored=listing.skipped_stored,
            skipped_window=listing.skipped_window,
        )
    )
    empty = [o for o in listing.objects if _empty_gzip(o)]
    wanted = [o for o in listing.objects if not _empty_gzip(o)]
    # Objects told apart by content are fetched whole even for ``stream``: what they are must
    # be known before they are read (and a Parquet object is read from its end).
    fetch = listing.by_content + ([] if stream else wanted)
    fetched, failures = fetch_all(client, url, fetch, opts) if fetch else ({}, [])
    failures += _empty_failures(url, empty, opts)
    sources = _fetched_sources(url, listing, fetched)
    if stream:
        sources += _streamed(client, url, wanted, opts)
    sources.sort(key=lambda source: source.display)
    if failures and not sources:
        raise failures[0].error
    unreadable = sorted((f.url, _reason(f)) for f in failures)
    return SourceScan(tuple(sources), tuple(listing.unknown), listing.silent, tuple(unreadable))


def _fetched_sources(
    url: S3Url, listing: Listing, fetched: Mapping[str, Fetched]
) -> list[LogSource]:
    """The fetched objects to read, in key order; those listed ``by_content`` only when their
    content is a connection log (the others count as skipped, like their names would)."""
    sources = []
    candidates = {o.key for o in listing.by_content}
    for obj in sorted((*listing.objects, *listing.by_content), key=lambda o: o.key):
        if obj.key not in fetched:
            continue
        path = fetched[obj.key].path
        if obj.key in candidates:
            kind = content_kind(path)
            if kind != "read":
                listing.silent += kind == "silent"
                if kind == "unknown":
                    listing.unknown.append(url.url(obj.key))
                continue
        sha256 = fetched[obj.key].sha256
        sources.append(
            LogSource(url.url(obj.key), path, is_gzip(path), obj.size, sha256=sha256, etag=obj.etag)
        )
    return sources


def _empty_failures(url: S3Url, empty: list[S3Object], opts: RemoteOptions) -> list[FetchFailure]:
    failures = []
    for obj in empty:
        error = InputError(f"{url.url(obj.key)}: {EMPTY_GZIP}")
        failures.append(FetchFailure(url.url(obj.key), error))
        opts.notify(TransferEvent("failed", url.url(obj.key), 1, 0, error.message))
    return failures


def _streamed(
    client: Any, url: S3Url, wanted: list[S3Object], opts: RemoteOptions
) -> list[LogSource]:
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
    return sources


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
