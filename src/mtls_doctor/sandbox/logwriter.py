"""Connection-log files written as the ALB writes them: gzip, S3-like folders and names.

Lines are gathered as connections finish and written to a hidden ``.partial`` file at least
every :data:`FLUSH_SECONDS`, each batch as a gzip member of its own (a gzip file may hold
several, one after another): a crash, even ``kill -9``, loses at most the last batch, and the
file reads back as a multi-member gzip (its tail possibly truncated, which the readers report).
At the end of each rotation interval (aligned to the clock, like the ALB's 5-minute files)
and on :meth:`ConnLogWriter.close`, the file is closed and renamed into
``AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/conn_log_..._<end-time>_...``
(spec §1.2, §1.3). Readers therefore never see half-written files. A ``.partial`` file left by
a writer that died is delivered the same way when the next writer starts in that folder; the
one a live writer holds is locked (``flock``), so it is never taken from under it.

With ``log_format="json"`` each line is a vended JSON record instead (spec §2,
:func:`mtls_doctor.knowledge.fields.vended_record`), in a file named by
:func:`vended_object_name` under the same folders, as AWS's V2 example for ALB access logs
has them (spec §2.6). UNCONFIRMED: the connection-log object names and folders of a vended
delivery; readers detect the format from content, so only plausibility matters here.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from mtls_doctor.knowledge.fields import LogEntry, vended_record
from mtls_doctor.sandbox.config import SandboxConfig

try:
    import fcntl
except ImportError:  # not POSIX: no lock, and so no recovery of another writer's file
    fcntl = None  # type: ignore[assignment]

_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
FLUSH_SECONDS = 0.5  # lines reach the file within this (plus the time to compress them)
FLUSH_BYTES = 1 << 20  # or as soon as this much is waiting: bounds memory under load


def padded_ip(address: str) -> str:
    """The node IP as in AWS's file-name example: IPv4 octets zero-padded (172.160.001.192)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return ".".join(f"{int(part):03d}" for part in str(ip).split("."))
    return str(ip)


def vended_object_name(legacy_name: str, log_format: str) -> str:
    """A plausible name for a vended object holding what ``legacy_name`` holds
    (``alb_connection_logs_<account>_..._<rand>.json.gz``; UNCONFIRMED, spec §2.5)."""
    stem = legacy_name.removeprefix("conn_log_").removesuffix(".log.gz")
    suffix = ".parquet" if log_format == "parquet" else ".json.gz"
    return f"alb_connection_logs_{stem}{suffix}"


def encode_entry(entry: LogEntry, log_format: str = "legacy", json_values: str = "typed") -> str:
    """One line of the file: the legacy line, or the vended JSON record (numbers and null
    with ``json_values="typed"``, strings and ``-`` with ``"string"``)."""
    if log_format == "legacy":
        return entry.to_line()
    typed = json_values == "typed"
    record = vended_record(entry, typed=typed, empty="null" if typed else "dash")
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


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
    log_format: str = "legacy"

    @classmethod
    def from_config(cls, config: SandboxConfig, node_ip: str) -> LogNaming:
        return cls(
            config.account_id,
            config.region,
            config.lb_name,
            config.load_balancer_id,
            node_ip,
            config.log_format,
        )

    def relative_path(
        self, end: datetime, delivered: datetime, random: str, log_format: str | None = None
    ) -> Path:
        """``AWSLogs/.../yyyy/mm/dd/conn_log_...log.gz``; the folder date is the delivery
        date, not the connection date (spec §1.2). ``conn_log_`` with an underscore, as in
        the current AWS template (older pages show ``conn_log.``; spec §1.3)."""
        name = (
            f"conn_log_{self.account_id}_elasticloadbalancing_{self.region}"
            f"_app.{self.lb_name}.{self.lb_id}_{end_time_label(end)}"
            f"_{padded_ip(self.node_ip)}_{random}.log.gz"
        )
        if (log_format or self.log_format) != "legacy":
            name = vended_object_name(name, log_format or self.log_format)
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
    """Thread-safe writer of one line per connection, rotated by time, flushed every
    :data:`FLUSH_SECONDS` as a gzip member."""

    def __init__(
        self,
        log_dir: Path,
        naming: LogNaming,
        rotate_seconds: int,
        clock: Callable[[], datetime],
        json_values: str = "typed",
    ) -> None:
        self._clock = clock
        self.json_values = json_values
        self.log_dir = log_dir
        self.naming = naming
        self.rotate_seconds = rotate_seconds
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._partial: Path | None = None
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._interval_end: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.files: list[Path] = []
        self.recovered: list[Path] = []  # left by a writer that died, delivered at start
        self.lines_written = 0

    def start(self, now: datetime) -> None:
        """Create the folder, deliver what a dead writer left, and start the timer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._recover(now)
        self._interval_end = interval_end(now, self.rotate_seconds)
        self._thread = threading.Thread(target=self._timer, name="conn-log-rotate", daemon=True)
        self._thread.start()

    def write(self, entry: LogEntry, now: datetime) -> None:
        """Append ``entry``; rotates first if its interval is over."""
        line = encode_entry(entry, self.naming.log_format, self.json_values) + "\n"
        with self._lock:
            if self._interval_end is not None and now >= self._interval_end:
                self._rotate_locked(now)
            self._pending.append(line)
            self._pending_bytes += len(line)
            self.lines_written += 1
            if self._pending_bytes >= FLUSH_BYTES:
                self._flush_locked()

    def flush(self) -> None:
        """Write the lines gathered so far to the ``.partial`` file, as one gzip member."""
        with self._lock:
            self._flush_locked()

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
            to_end = (end - self._clock()).total_seconds() if end else self.rotate_seconds
            flush_only = to_end > FLUSH_SECONDS
            if self._stop.wait(max(min(to_end, FLUSH_SECONDS), 0.05)):
                return
            if flush_only:
                self.flush()
            else:
                self.rotate(self._clock())

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        if self._file is None:
            self._open_locked()
        assert self._file is not None
        self._file.write(gzip.compress("".join(self._pending).encode(), compresslevel=6))
        self._file.flush()  # in the kernel now: a killed process loses nothing written
        self._pending.clear()
        self._pending_bytes = 0

    def _open_locked(self) -> None:
        tmp_dir = self.log_dir / ".partial"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # The format is in the name, so a recovered file is named for what it holds.
        fmt = self.naming.log_format
        self._partial = tmp_dir / f"{secrets.token_hex(8)}.{fmt}.gz.partial"
        # Kept open across flushes until the interval ends, hence no context manager.
        self._file = open(self._partial, "ab")  # noqa: SIM115
        if fcntl is not None:  # held while we live: _recover leaves this file alone
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _rotate_locked(self, now: datetime) -> Path | None:
        end = self._interval_end or interval_end(now, self.rotate_seconds)
        delivered = self._deliver_locked(now, end)
        self._interval_end = interval_end(now, self.rotate_seconds)
        return delivered

    def _deliver_locked(self, now: datetime, end: datetime) -> Path | None:
        self._flush_locked()
        if self._file is None or self._partial is None:
            return None
        self._file.close()
        final = self._final_name(end, now)
        os.replace(self._partial, final)
        self._file = None
        self._partial = None
        self.files.append(final)
        return final

    def _final_name(self, end: datetime, now: datetime, log_format: str | None = None) -> Path:
        random = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(8))
        final = self.log_dir / self.naming.relative_path(end, now, random, log_format)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final

    def _recover(self, now: datetime) -> None:
        """Deliver the ``.partial`` files of writers that died (no one holds their lock)."""
        if fcntl is None:
            return
        for path in sorted((self.log_dir / ".partial").glob("*.gz.partial")):
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live writer's file
                if path.stat().st_size == 0:
                    path.unlink()
                    continue
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                # <token>.gz.partial (before --log-format) is legacy; <token>.json.gz.partial.
                fmt = "json" if path.name.endswith(".json.gz.partial") else "legacy"
                end = interval_end(written, self.rotate_seconds)
                final = self._final_name(end, now, fmt)
                os.replace(path, final)
                self.recovered.append(final)
