"""S3 objects into the local cache: downloaded in parallel, hashed as they arrive, and never
seen half-written.

A download goes to an unnamed file (Linux ``O_TMPFILE``) that is given its name in the cache
only once complete, so no signal, not even SIGKILL, leaves a partial file behind; elsewhere a
``.part`` file is used and removed on any exception, Ctrl-C included. Ctrl-C also stops every
download in progress within one chunk, and the queued ones never start.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions, TransferEvent
from mtls_doctor.aws.session import is_transient, translate
from mtls_doctor.errors import MtlsDoctorError

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


@dataclass(frozen=True)
class FetchFailure:
    url: str
    error: MtlsDoctorError


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


def cached_copy(target: Path, obj: S3Object) -> Fetched | None:
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
    found = cached_copy(target, obj)
    if found is not None:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, opts.attempts + 1):
        try:
            with _CacheFile(target) as out:
                digest = _download(client, bucket, obj.key, out.handle, cancel or threading.Event())
                out.keep()
            return Fetched(target, False, digest)
        except Exception as error:
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


class _CacheFile:
    """A file that takes the name ``target`` when :meth:`keep` is called, and leaves nothing
    behind otherwise."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.partial: Path | None = None
        try:  # unnamed until linked: nothing to clean up, whatever ends the process
            fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)
        except (AttributeError, OSError):  # not Linux, or a file system without it
            self.partial = target.with_name(
                f"{target.name}.part-{os.getpid()}-{threading.get_ident()}"
            )
            fd = os.open(self.partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        self.handle: BinaryIO = os.fdopen(fd, "wb")

    def __enter__(self) -> _CacheFile:
        return self

    def keep(self) -> None:
        self.handle.flush()
        if self.partial is not None:
            os.replace(self.partial, self.target)
            self.partial = None
            return
        with contextlib.suppress(FileNotFoundError):
            self.target.unlink()  # an older version of the object
        try:
            self._link(self.target)
        except FileExistsError:  # another process cached it meanwhile: ours replaces it
            spare = self.target.with_name(f"{self.target.name}.new-{os.getpid()}")
            self._link(spare)
            os.replace(spare, self.target)

    def _link(self, name: Path) -> None:
        # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names an O_TMPFILE file; a plain
        # link() would try to link the /proc symlink itself.
        proc = os.open("/proc/self/fd", os.O_RDONLY)
        try:
            os.link(str(self.handle.fileno()), name, src_dir_fd=proc, follow_symlinks=True)
        finally:
            os.close(proc)

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        if self.partial is not None:
            self.partial.unlink(missing_ok=True)


def _download(client: Any, bucket: str, key: str, out: BinaryIO, cancel: threading.Event) -> str:
    """Write the object to ``out``, hashing it as it arrives; its SHA-256."""
    import botocore.exceptions

    response = client.get_object(Bucket=bucket, Key=key)
    body, written, digest = response["Body"], 0, hashlib.sha256()
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
