"""S3 objects read as they download: the bytes go to the reader (which inflates and scans
them) and to the cache in the same pass, and are hashed on the way; nothing is read back.

Each object is a :class:`~mtls_doctor.logs.sources.Feed`. The downloads run ahead of the
reader in key order, ``workers`` at a time, each into a bounded queue: a reader that falls
behind stops the downloads (backpressure), so memory holds at most ``workers`` times
:data:`AHEAD` chunks whatever the objects' sizes. A download cut off by a dropped connection
resumes where it stopped (a ``Range`` request); one refused, gone or failing for good ends
its stream with a :class:`~mtls_doctor.logs.sources.FeedError`. The cache file is written
as the bytes pass (``s3fetch._CacheFile``: it gets its name only once complete), so a later
``logs query`` finds it; a Ctrl-C (:meth:`Downloads.close`) stops every download within one
chunk and leaves no partial file.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.aws.layout import S3Url
from mtls_doctor.aws.options import RemoteOptions, TransferEvent
from mtls_doctor.aws.s3fetch import _CHUNK, S3Object, _CacheFile, cache_path
from mtls_doctor.aws.session import is_transient, translate
from mtls_doctor.logs.sources import FeedError

# Chunks (of s3fetch._CHUNK bytes) a download may hold before the reader takes them. The
# reader reads a file per core while the other downloads wait with full queues: at 4, 2M
# lines in 20 objects peaked at 450-456 MiB, at 1 at 417-424 MiB, as fast.
AHEAD = 1
_END = object()


@dataclass
class Downloads:
    """The downloads of one listing: started in order, ``workers`` at a time, on demand."""

    client: Any
    url: S3Url
    opts: RemoteOptions
    feeds: list[S3Feed] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: bool = False
    # A slot is held from an object's first request until the reader is done with it (not
    # until its last byte arrived): objects downloaded but not yet read count, so memory
    # stays bounded when the reader is the slower side.
    _slots: threading.Semaphore | None = None

    def feed(self, obj: S3Object) -> S3Feed:
        made = S3Feed(self, obj)
        self.feeds.append(made)
        return made

    def start(self) -> None:
        """Start the downloads (once), when the first object is opened."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._slots = threading.Semaphore(max(1, self.opts.workers))
        threading.Thread(target=self._dispatch, name="mtls-doctor-s3", daemon=True).start()

    def _dispatch(self) -> None:
        # In key order, as the reader takes them: the object it waits for always has a slot.
        assert self._slots is not None
        for feed in self.feeds:
            while not self._slots.acquire(timeout=0.1):
                if self.cancel.is_set():
                    return
            with self._lock:
                if self.cancel.is_set():
                    return
                if feed.closed:  # the reader is done with it already (it was stopped)
                    self._slots.release()
                    continue
                feed.started = True
            threading.Thread(target=feed.pump, name="mtls-doctor-s3-get", daemon=True).start()

    def done_with(self, feed: S3Feed) -> None:
        """The reader is done with ``feed``: its slot goes to the next object."""
        with self._lock:
            if feed.closed:
                return
            feed.closed = True
            if feed.started and self._slots is not None:
                self._slots.release()

    def close(self) -> None:
        """Stop every download (an ingest that ends, or Ctrl-C); no partial file remains."""
        self.cancel.set()


class S3Feed:
    """One object's bytes, downloaded into a bounded queue as the reader takes them."""

    def __init__(self, downloads: Downloads, obj: S3Object) -> None:
        self.downloads = downloads
        self.obj = obj
        self.chunks: queue.Queue[Any] = queue.Queue(AHEAD)
        self.sha256: str | None = None
        self.failure: str | None = None  # why the object could not be fetched whole
        self.error: Exception | None = None  # as raised (AwsAccessError: exit 4)
        self.started = False  # its download has a slot (see Downloads)
        self.closed = False  # the reader is done with it

    def open(self) -> _Stream:
        self.downloads.start()
        return _Stream(self)

    def close(self) -> None:
        self.downloads.close()

    def _put(self, item: Any) -> bool:
        while not self.downloads.cancel.is_set() and not self.closed:
            try:
                self.chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump(self) -> None:
        """Download the object into the queue and the cache (the download thread)."""
        d, url = self.downloads, self.downloads.url.url(self.obj.key)
        target = cache_path(d.opts.cache_root, d.url.bucket, self.obj.key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with _CacheFile(target) as out:
                self.sha256 = self._download(out.handle.write)
                if self.sha256 is None:
                    return  # cancelled
                out.keep()
            d.opts.notify(TransferEvent("fetched", url, 1, self.obj.size))
            self._put(_END)
        except FeedError as error:
            self.failure = str(error.strerror)
            d.opts.notify(TransferEvent("failed", url, 1, self.obj.size, self.failure))
            self._put(error)
        except BaseException as error:  # the cache could not be written: say so, stop there
            self.failure = f"cannot read: {error}"
            self._put(FeedError(str(error), before=False))

    def _download(self, write: Any) -> str | None:
        """Every byte once into ``write`` and the queue; the SHA-256, or None if cancelled."""
        d, digest, written = self.downloads, hashlib.sha256(), 0
        for attempt in range(1, d.opts.attempts + 1):
            try:
                body, expected = self._get(written)
                while chunk := body.read(_CHUNK):
                    write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    if not self._put(chunk):
                        return None
                if expected is not None and written != expected:
                    import botocore.exceptions

                    raise botocore.exceptions.IncompleteReadError(
                        actual_bytes=written, expected_bytes=expected
                    )
                return digest.hexdigest()
            except Exception as error:
                if d.cancel.is_set():
                    return None
                if attempt == d.opts.attempts or not is_transient(error):
                    raise self._failure(error, attempt, written) from error
                time.sleep(d.opts.backoff_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _get(self, offset: int) -> tuple[Any, int | None]:
        """The body from ``offset`` on (a resumed download asks for the rest only), and the
        object's whole size as the response gives it."""
        d = self.downloads
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        response = d.client.get_object(Bucket=d.url.bucket, Key=self.obj.key, **extra)
        length = response.get("ContentLength")
        return response["Body"], None if length is None else offset + int(length)

    def _failure(self, error: Exception, attempt: int, written: int) -> FeedError:
        url = self.downloads.url.url(self.obj.key)
        raised = translate(error, action="s3:GetObject", resource=url)
        self.error = raised
        message = raised.message + (f" after {attempt} attempts" if attempt > 1 else "")
        message = message.removeprefix(url + ": ")
        return FeedError(message, before=written == 0)


class _Stream:
    """The reader's side of a feed: ``read(n)`` blocks until ``n`` bytes or the end."""

    def __init__(self, feed: S3Feed) -> None:
        self.feed = feed
        self.rest = b""
        self.at = 0  # of rest, what was read already
        self.ended = False

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended = True
        self.feed.downloads.done_with(self.feed)

    def _next(self) -> bytes | None:
        while True:
            try:
                item = self.feed.chunks.get(timeout=0.1)
            except queue.Empty:
                if self.feed.downloads.cancel.is_set():
                    raise FeedError("the download was stopped", before=False) from None
                continue
            if item is _END:
                return None
            if isinstance(item, FeedError):
                raise item
            return bytes(item)

    def read(self, size: int = -1) -> bytes:
        while not self.ended and (size < 0 or len(self.rest) - self.at < size):
            chunk = self._next()
            if chunk is None:
                self.ended = True
                break
            self.rest, self.at = self.rest[self.at :] + chunk, 0
        end = len(self.rest) if size < 0 else min(len(self.rest), self.at + size)
        data, self.at = self.rest[self.at : end], end
        return data
