"""CloudTrail as a change source, and S3 object versions as change evidence.

- :func:`read_s3`: trail files under an ``s3://`` prefix (``AWSLogs/{account}/CloudTrail/
  {region}/yyyy/mm/dd/``), only the day folders of the window listed, read in memory.
- :func:`lookup_events`: the ``LookupEvents`` API for ``elasticloadbalancing.amazonaws.com``
  over the window, every page. (It keeps 90 days of management events per region.)
- :class:`S3Versions`: exact object versions for :mod:`mtls_doctor.trail.link`.

A refused or unreachable call raises our error; :func:`mtls_doctor.trail.files.read_safely`
turns it into a named problem so the diagnosis goes on. A file or object that fails alone
is named and skipped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from mtls_doctor.aws import session as aws_session
from mtls_doctor.aws.layout import S3Url, split_after_awslogs
from mtls_doctor.aws.s3 import child_folders, iter_objects
from mtls_doctor.aws.session import error_code, translate
from mtls_doctor.errors import InputError, MtlsDoctorError
from mtls_doctor.trail.event import ELB_SOURCE, ChangeEvent, parse_record
from mtls_doctor.trail.files import (
    ChangeRead,
    days_wanted,
    events_in,
    is_trail_name,
    parse_trail_bytes,
    skip_by_name,
)

_WORKERS = 8
_NO_VERSION = {"NoSuchVersion", "InvalidArgument", "NoSuchKey", "404"}


def _day_prefixes(since: datetime, until: datetime) -> list[str]:
    first, last = days_wanted(since, until)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [f"{d.year:04d}/{d.month:02d}/{d.day:02d}/" for d in days]


def trail_prefixes(client: Any, url: S3Url, since: datetime, until: datetime) -> list[str]:
    """The prefixes to list: the window's day folders of every account and region found."""
    root, parts = split_after_awslogs(url.prefix)
    if not parts and "AWSLogs/" not in url.prefix:
        base = url.prefix if not url.prefix or url.prefix.endswith("/") else url.prefix + "/"
        if not child_folders(client, url.bucket, base + "AWSLogs/"):
            return [url.prefix]  # not a trail root: read the trail files found under it
        root = base + "AWSLogs/"
    if len(parts) > 3:  # a day folder or a file was given
        return [url.prefix]
    accounts = parts[:1] or child_folders(client, url.bucket, root)
    folders = []
    for account in accounts:
        service = f"{root}{account}/CloudTrail/"
        regions = parts[2:3] or child_folders(client, url.bucket, service)
        folders += [f"{service}{region}/" for region in regions]
    return [folder + day for folder in folders for day in _day_prefixes(since, until)]


def _get(client: Any, bucket: str, key: str) -> bytes:
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    except Exception as error:
        raise translate(error, action="s3:GetObject", resource=f"s3://{bucket}/{key}") from error


def read_s3(
    text: str, since: datetime, until: datetime, *, profile: str | None = None
) -> ChangeRead:
    """ELB events of ``[since, until]`` from the trail files under ``text`` (``s3://...``)."""
    url = S3Url.parse(text)
    client = aws_session.new_client("s3", profile=profile, pool=_WORKERS)
    keys = sorted(
        {
            obj.key
            for prefix in trail_prefixes(client, url, since, until)
            for obj in iter_objects(client, url.bucket, prefix)
            if "/CloudTrail-Digest/" not in obj.key
            and is_trail_name(obj.key.rsplit("/", 1)[-1])
            and not skip_by_name(obj.key.rsplit("/", 1)[-1], since)
        }
    )

    def one(key: str) -> tuple[str, list[Any] | MtlsDoctorError]:
        try:
            return key, parse_trail_bytes(_get(client, url.bucket, key), url.url(key))
        except MtlsDoctorError as error:
            return key, error

    events: list[ChangeEvent] = []
    problems: list[str] = []
    files = records = 0
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for key, batch in pool.map(one, keys):
            if isinstance(batch, MtlsDoctorError):
                problems.append(f"{batch.message}; skipped")
                continue
            files += 1
            records += len(batch)
            events.extend(events_in(batch, url.url(key), since, until))
    events.sort(key=lambda e: e.event_time)
    return ChangeRead(url.url(), tuple(events), files, records, tuple(problems), not problems)


def lookup_events(
    since: datetime,
    until: datetime,
    *,
    region: str | None = None,
    profile: str | None = None,
    client: Any = None,
) -> ChangeRead:
    """Every ELB event of ``[since, until]`` from ``LookupEvents``, oldest first."""
    trail = client or aws_session.new_client("cloudtrail", profile=profile, region=region)
    events: list[ChangeEvent] = []
    records = 0
    try:
        pages = trail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": ELB_SOURCE}],
            StartTime=since,
            EndTime=until,
        )
        for page in pages:
            for item in page.get("Events", []):
                records += 1
                event = _from_lookup(item)
                if event is not None and since <= event.event_time <= until:
                    events.append(event)
    except Exception as error:
        raise translate(
            error, action="cloudtrail:LookupEvents", resource=f"CloudTrail ({ELB_SOURCE})"
        ) from error
    events.sort(key=lambda e: e.event_time)
    return ChangeRead("cloudtrail", tuple(events), 0, records)


def _from_lookup(item: dict[str, Any]) -> ChangeEvent | None:
    """The event's full record is the JSON string ``CloudTrailEvent``."""
    import json

    try:
        record = json.loads(item.get("CloudTrailEvent") or "null")
    except ValueError:
        return None
    return parse_record(record, "cloudtrail:LookupEvents")


class S3Versions:
    """:class:`mtls_doctor.trail.objects.ObjectFetcher` over S3 (``s3:GetObjectVersion``)."""

    def __init__(self, client: Any = None, *, profile: str | None = None) -> None:
        self._client = client or aws_session.new_client("s3", profile=profile)

    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        url = f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else "")
        params = {"Bucket": bucket, "Key": key} | ({"VersionId": version} if version else {})
        try:
            data: bytes = self._client.get_object(**params)["Body"].read()
            return data
        except Exception as error:
            if version and error_code(error) in _NO_VERSION:
                raise InputError(f"{url}: no such object version") from error
            action = "s3:GetObjectVersion" if version else "s3:GetObject"
            raise translate(error, action=action, resource=url) from error

    def previous_version(self, bucket: str, key: str, version: str) -> str | None:
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=key
            )
            # Newest first, as S3 lists the versions of a key.
            versions = [
                v["VersionId"]
                for page in pages
                for v in page.get("Versions", [])
                if v["Key"] == key
            ]
        except Exception as error:
            raise translate(
                error, action="s3:ListBucketVersions", resource=f"s3://{bucket}/{key}"
            ) from error
        if version not in versions:
            return None
        index = versions.index(version)
        return versions[index + 1] if index + 1 < len(versions) else None
