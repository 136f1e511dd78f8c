"""What an S3 input needs besides its URL: narrowing, credentials, cache, retries.

This module imports nothing heavy; ``mtls_doctor.logs`` passes :class:`RemoteOptions` along
without knowing what is in it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

TransferKind = Literal["planned", "fetched", "cached", "failed"]


@dataclass(frozen=True)
class TransferEvent:
    """One step of reading an S3 prefix, for progress bars and warnings.

    ``planned`` comes once per input, before any download, with the totals; the others come
    once per object, from the thread that called the expander.
    """

    kind: TransferKind
    url: str
    files: int = 0
    size: int = 0
    message: str = ""
    listed: int = 0  # planned: objects listed under the prefix
    skipped_stored: int = 0  # planned: left out because the store holds their current version
    skipped_window: int = 0  # planned: left out because their end-time is outside the window


TransferObserver = Callable[[TransferEvent], None]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mtls-doctor/s3``, else ``~/.cache/mtls-doctor/s3``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtls-doctor" / "s3"


@dataclass(frozen=True)
class RemoteOptions:
    """Options for ``s3://`` inputs and for the AWS clients behind them.

    ``since``/``until`` narrow the day folders listed and the objects fetched (by the
    end-time in their names); rows are still filtered by their own timestamp afterwards.
    """

    profile: str | None = None
    region: str | None = None
    account: str | None = None
    lb: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    now: datetime | None = None
    cache_dir: Path | None = None
    workers: int = 8
    attempts: int = 4  # per object, on top of botocore's own retries of each call
    backoff_seconds: float = 0.5
    # A file named with end-time E holds connections of (E - 5 min, E] (spec §1.2). The slack
    # widens that on both sides, since which file a connection lands in is not documented
    # exactly [INFERENCE].
    interval_minutes: int = 5
    slack_minutes: int = 5
    observer: TransferObserver | None = field(default=None, compare=False)

    @property
    def cache_root(self) -> Path:
        return self.cache_dir or default_cache_dir()

    def notify(self, event: TransferEvent) -> None:
        if self.observer is not None:
            self.observer(event)
