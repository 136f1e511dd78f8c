"""``cloudwatch:LOG_GROUP`` (and log-group ARN) inputs: the opener, and its progress on stderr.

Nothing here imports boto3 (``aws.cwopener`` does, when a group is read).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from mtls_doctor.aws.cloudwatch import CloudWatchOptions, GroupEvent
from mtls_doctor.aws.options import RemoteOptions
from mtls_doctor.cli._base import info, record_input_failure, warn

if TYPE_CHECKING:
    from mtls_doctor.aws.cwopener import CloudWatchOpener

STREAM_PREFIX_HELP = "cloudwatch: inputs: only the log streams whose names start with this."
LATE_ENV = "MTLS_DOCTOR_CLOUDWATCH_LATE_MINUTES"


class GroupReporter:
    """A group's read on stderr: a line when it starts and ends, a live count on a terminal."""

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, event: GroupEvent) -> None:
        if event.kind == "start":
            info(f"{event.group}: reading {event.message}")
            self._start(event.group)
        elif event.kind == "page" and self.progress is not None:
            self.progress.update(self.task, description=f"{event.group}: {event.events} events")
        elif event.kind == "done":
            self._stop()
            stored = f"; {event.skipped} already in the store" if event.skipped else ""
            info(
                f"{event.group}: {event.events} event(s) from {event.streams} log stream(s)"
                + stored
            )
        elif event.kind == "note":
            warn(event.message)
        elif event.kind == "failed" and event.error is not None:
            # Named with the unreadable inputs (report_stats); the exit code comes at the end.
            record_input_failure(event.error)

    def _start(self, group: str) -> None:
        if not self.interactive:
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True)
        )
        self.progress.start()
        self.task = self.progress.add_task(f"{group}: 0 events", total=None)

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def late_minutes() -> int:
    """How late an event may reach CloudWatch and still be ingested (see groupmarks.py)."""
    text = os.environ.get(LATE_ENV, "").strip()
    return int(text) if text.isdigit() else CloudWatchOptions.late_minutes


def cloudwatch_opener(remote: RemoteOptions, stream_prefix: str | None) -> CloudWatchOpener:
    """The ``cloudwatch`` opener for the running command; its files go when the command ends."""
    from mtls_doctor.aws.cwopener import CloudWatchOpener

    options = CloudWatchOptions(
        remote=remote,
        stream_prefix=stream_prefix or None,
        late_minutes=late_minutes(),
        observer=GroupReporter(),
    )
    opener = CloudWatchOpener(options)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(opener.close)
    return opener
