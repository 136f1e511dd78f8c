"""Connection-log files written as the ALB writes them: gzip, S3-like folders and names.

Lines are streamed into a hidden ``.partial`` gzip file as connections finish, so memory
stays flat. At the end of each rotation interval (aligned to the clock, like the ALB's
5-minute files) and on :meth:`ConnLogWriter.close`, the file is closed and renamed into
``AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/conn_log_..._<end-time>_...``
(spec §1.2, §1.3). Readers therefore never see half-written files.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import os
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from mtls_doctor.logs.fields import LogEntry
from mtls_doctor.sandbox.config import SandboxConfig

_RANDOM_ALPHABET = string.ascii_lowercase + string.digits


def padded_ip(address: str) -> str:
    """The node IP as in AWS's file-name example: IPv4 octets zero-padded (172.160.001.192)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return ".".join(f"{int(part):03d}" for part in str(ip).split("."))
    return str(ip)


def interval_end(at: datetime, rotate_seconds: int) -> datetime:
    """End of the rotation interval holding ``at``; intervals are aligned to the epoch."""
    epoch = int(at.timestamp())
    return datetime.fromtimestamp((epoch // rotate_seconds + 1) * rotate_seconds, UTC)


def end_time_label(end: datetime) -> str:
    """``YYYYMMDDTHHMMZ``; an end that is not on a whole minute is rounded up, so the label
    is never earlier than the entries in the file (only happens with short test intervals)."""
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end.strftime("%Y%m%dT%H%MZ")


@dataclass(frozen=True)
class LogNaming:
    """Where the ALB would put a file: account, region, load balancer and node IP."""

    account_id: str
    region: str
    lb_name: str
    lb_id: str
    node_ip: str

    @classmethod
    def from_config(cls, config: SandboxConfig, node_ip: str) -> LogNaming:
        return cls(
            config.account_id, config.region, config.lb_name, config.load_balancer_id, node_ip
        )

    def relative_path(self, end: datetime, delivered: datetime, random: str) -> Path:
        """``AWSLogs/.../yyyy/mm/dd/conn_log_...log.gz``; the folder date is the delivery
        date, not the connection date (spec §1.2). ``conn_log_`` with an underscore, as in
        the current AWS template (older pages show ``conn_log.``; spec §1.3)."""
        name = (
            f"conn_log_{self.account_id}_elasticloadbalancing_{self.region}"
            f"_app.{self.lb_name}.{self.lb_id}_{end_time_label(end)}"
            f"_{padded_ip(self.node_ip)}_{random}.log.gz"
        )
        day = delivered.astimezone(UTC)
        return (
            Path("AWSLogs")
            / self.account_id
            / "elasticloadbalancing"
            / self.region
            / f"{day:%Y}"
            / f"{day:%m}"
            / f"{day:%d}"
            / name
        )


class ConnLogWriter:
    """Thread-safe writer of one line per connection, rotated by time."""

    def __init__(
        self,
        log_dir: Path,
        naming: LogNaming,
        rotate_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._clock = clock
        self.log_dir = log_dir
        self.naming = naming
        self.rotate_seconds = rotate_seconds
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._partial: Path | None = None
        self._interval_end: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.files: list[Path] = []
        self.lines_written = 0

    def start(self, now: datetime) -> None:
        """Create the folder and start the rotation timer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._interval_end = interval_end(now, self.rotate_seconds)
        self._thread = threading.Thread(target=self._timer, name="conn-log-rotate", daemon=True)
        self._thread.start()

    def write(self, entry: LogEntry, now: datetime) -> None:
        """Append ``entry``; rotates first if its interval is over."""
        line = entry.to_line() + "\n"
        with self._lock:
            if self._interval_end is not None and now >= self._interval_end:
                self._rotate_locked(now)
            if self._file is None:
                self._open_locked()
            assert self._file is not None
            self._file.write(line)
            self.lines_written += 1

    def rotate(self, now: datetime) -> Path | None:
        """Close the current file (if any) into its final name; returns that name."""
        with self._lock:
            return self._rotate_locked(now)

    def close(self, now: datetime) -> Path | None:
        """Stop the timer and deliver the last file: nothing written is lost."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            delivered = self._deliver_locked(now, self._interval_end or interval_end(now, 1))
        with contextlib.suppress(OSError):  # leave no empty work folder behind
            (self.log_dir / ".partial").rmdir()
        return delivered

    def _timer(self) -> None:
        while not self._stop.is_set():
            end = self._interval_end
            wait = (end - self._clock()).total_seconds() if end else self.rotate_seconds
            if self._stop.wait(max(wait, 0.05)):
                return
            self.rotate(self._clock())

    def _open_locked(self) -> None:
        tmp_dir = self.log_dir / ".partial"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._partial = tmp_dir / f"{secrets.token_hex(8)}.gz.partial"
        # Kept open across writes until the interval ends, hence no context manager.
        self._file = gzip.open(self._partial, "wt", encoding="utf-8", newline="\n")  # noqa: SIM115

    def _rotate_locked(self, now: datetime) -> Path | None:
        end = self._interval_end or interval_end(now, self.rotate_seconds)
        delivered = self._deliver_locked(now, end)
        self._interval_end = interval_end(now, self.rotate_seconds)
        return delivered

    def _deliver_locked(self, now: datetime, end: datetime) -> Path | None:
        if self._file is None or self._partial is None:
            return None
        self._file.close()
        random = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(8))
        final = self.log_dir / self.naming.relative_path(end, now, random)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._partial, final)
        self._file = None
        self._partial = None
        self.files.append(final)
        return final
