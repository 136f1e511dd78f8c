"""Listing an S3 prefix of ALB logs: the folders a window needs, in both delivery layouts,
and which of the objects found are to be read.

Legacy connection-log objects are chosen by name (``conn_log_...``, with the end-time the
window is checked against). V2 (vended) objects have UNCONFIRMED names (spec §2.5/§2.6):
an object of any other name found under ``AWSLogs/<account>/elasticloadbalancing/`` is
listed ``by_content`` and told apart once its bytes are there (``s3.py``). Such an object
carries no end-time; the day folders prune it, and so does its LastModified: an object is
written after the records it holds, so one last modified before ``--since`` (less the
slack) cannot hold any of the window.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mtls_doctor.aws.layout import (
    AWSLOGS,
    ConnLogName,
    S3Url,
    day_prefix,
    day_range,
    in_window,
    is_hive,
    lb_matches,
    split_after_awslogs,
)
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.aws.s3fetch import S3Object
from mtls_doctor.aws.session import translate
from mtls_doctor.logs.layout import HIVE_ACCOUNT, HIVE_REGION, SERVICE_PART, in_delivery_layout
from mtls_doctor.logs.sources import StoredCopy, classify_name


@dataclass
class Listing:
    """What listing a prefix found, and what it left out."""

    objects: list[S3Object] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    silent: int = 0
    listed: int = 0
    skipped_window: int = 0
    skipped_stored: int = 0
    # Objects of other names in a delivery layout: read if their content is a connection log.
    by_content: list[S3Object] = field(default_factory=list)


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


def _exists(client: Any, bucket: str, prefix: str) -> bool:
    """Whether any object lies under ``prefix`` (one small listing)."""
    try:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except Exception as error:
        raise translate(
            error, action="s3:ListBucket", resource=f"s3://{bucket}/{prefix}"
        ) from error
    return bool(page.get("KeyCount") or page.get("Contents"))


def _account_folders(
    client: Any, url: S3Url, root: str, parts: list[str], opts: RemoteOptions
) -> list[str]:
    """The account folders under ``root``: ``{account}`` and, for V2 deliveries with
    Hive-compatible paths, ``aws-account-id={account}`` (both may share a bucket)."""
    if parts:
        return parts[:1]
    if not opts.account:
        return child_folders(client, url.bucket, root)
    hive = HIVE_ACCOUNT + opts.account
    return [opts.account] + ([hive] if _exists(client, url.bucket, f"{root}{hive}/") else [])


def _region_folders(
    client: Any, url: S3Url, root: str, parts: list[str], opts: RemoteOptions
) -> list[str]:
    """``<root><account>/elasticloadbalancing/<region>/`` folders to read (either layout)."""
    folders = []
    for account in _account_folders(client, url, root, parts, opts):
        service = f"{root}{account}/{SERVICE_PART}/"
        region = (HIVE_REGION if is_hive(account) else "") + (opts.region or "")
        regions = parts[2:3] or (
            [region] if opts.region else child_folders(client, url.bucket, service)
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
    days = day_range(opts.since, until)
    return [folder + day_prefix(day, is_hive(folder)) for folder in folders for day in days]


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
    listing.by_content.sort(key=lambda o: o.key)
    return listing


def _written_before(obj: S3Object, opts: RemoteOptions) -> bool:
    """Whether ``obj`` was last written before the window (less the slack) began."""
    if opts.since is None or obj.last_modified is None:
        return False
    modified = obj.last_modified
    modified = modified if modified.tzinfo else modified.replace(tzinfo=UTC)
    return modified + timedelta(minutes=opts.slack_minutes) < opts.since


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
        if not in_delivery_layout(obj.key.split("/")):
            listing.unknown.append(url.url(obj.key))
            return
        if _written_before(obj, opts):
            listing.skipped_window += 1
        elif is_current(obj, stored.get(url.url(obj.key))):
            listing.skipped_stored += 1
        else:
            listing.by_content.append(obj)
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
