"""Options for ``s3://`` inputs and AWS lookups, shared by the commands that read logs.

The values are kept in ``ctx.meta`` (the options are not passed as arguments), so adding
them to a command changes no signature; :func:`remote_options` collects them. Nothing here
imports boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mtls_doctor.aws.options import RemoteOptions, TransferEvent, default_cache_dir
from mtls_doctor.cli._base import info, warn
from mtls_doctor.cli._cloudwatch import STREAM_PREFIX_HELP, cloudwatch_opener
from mtls_doctor.errors import UsageError
from mtls_doctor.timeutil import check_window, parse_time

if TYPE_CHECKING:
    from mtls_doctor.diagnose.correlate import Correlator
    from mtls_doctor.logs.query import Filters
    from mtls_doctor.logs.sources import Opener

F = TypeVar("F", bound=Callable[..., Any])
_META = "mtls_doctor.aws"


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_keep, **kwargs)


def _stack(func: F, *decorators: Callable[[F], F]) -> F:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


_PROFILE_HELP = "AWS profile (default: AWS_PROFILE or the default chain)."
_REGION_HELP = "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's)."


def aws_profile_options(func: F) -> F:
    """``--profile`` and ``--region`` (otherwise boto3's usual sources)."""
    return _stack(
        func,
        _option("--profile", help=_PROFILE_HELP),
        _option("--region", help=_REGION_HELP),
    )


def s3_input_options(func: F) -> F:
    """Options that narrow and fetch ``s3://bucket[/prefix]`` PATHS."""
    return _stack(
        func,
        _option("--profile", help=_PROFILE_HELP),
        _option(
            "--region",
            help=_REGION_HELP + " For s3:// logs also the only region folder read.",
        ),
        _option("--account", help="s3:// logs: only this account's AWSLogs/<account>/ folder."),
        _option("--lb", help="s3:// logs: only this load balancer (name, app/NAME/ID or ARN)."),
        _option("--log-stream-prefix", help=STREAM_PREFIX_HELP),
        _option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help=f"s3:// logs: local cache of fetched objects (default: {default_cache_dir()}, "
            "that is $XDG_CACHE_HOME/mtls-doctor/s3).",
        ),
    )


def s3_ingest_options(func: F) -> F:
    """:func:`s3_input_options` plus the time window, for ``ingest`` (which has no filters)."""
    return _stack(
        func,
        s3_input_options,
        _option("--since", help="s3:// logs: only files that can hold connections since then."),
        _option("--until", help="s3:// logs: only files that can hold connections before then."),
    )


def listener_options(func: F) -> F:
    """``--listener-arn`` / ``--trust-store-arn`` for ``diagnose``."""
    return _stack(
        func,
        _option(
            "--listener-arn",
            help="Fetch the listener's trust store and IgnoreClientCertificateExpiry from AWS.",
        ),
        _option("--trust-store-arn", help="Fetch this trust store's CA bundle and CRLs from AWS."),
    )


def _values() -> dict[str, Any]:
    return dict(click.get_current_context().meta.get(_META, {}))


def option_values() -> dict[str, Any]:
    """The values of the options above given to the running command (by parameter name)."""
    return _values()


def remote_options(filters: Filters | None = None, now: datetime | None = None) -> RemoteOptions:
    """RemoteOptions from the options above (the window from ``filters`` when given)."""
    values = _values()
    moment = now or datetime.now(UTC)
    since = filters.since if filters else None
    until = filters.until if filters else None
    if filters is None:
        since = parse_time(values["since"], now=moment) if values.get("since") else None
        until = parse_time(values["until"], now=moment) if values.get("until") else None
        check_window(since, until)
    return RemoteOptions(
        profile=values.get("profile"),
        region=values.get("region"),
        account=values.get("account"),
        lb=values.get("lb"),
        since=since,
        until=until,
        now=moment,
        cache_dir=values.get("cache_dir"),
        observer=TransferReporter(),
    )


def remote_openers(
    filters: Filters | None = None, now: datetime | None = None
) -> dict[str, Opener]:
    """The ``s3://`` and ``cloudwatch:`` openers for ``logs`` (see ``logs.sources.Opener``),
    from the options above."""
    from mtls_doctor.aws.s3 import s3_openers

    remote = remote_options(filters, now)
    openers: dict[str, Opener] = dict(s3_openers(remote))
    openers["cloudwatch"] = cloudwatch_opener(remote, _values().get("log_stream_prefix"))
    return openers


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


class TransferReporter:
    """Progress on stderr: a bar with files and bytes on a terminal, summary lines otherwise."""

    def __init__(self, interactive: bool | None = None) -> None:
        import sys

        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.progress: Any = None
        self.task: Any = None
        self.counts = {"fetched": 0, "cached": 0, "failed": 0}
        self.planned = 0
        self.url = ""

    def __call__(self, event: TransferEvent) -> None:
        if event.kind == "planned":
            self._planned(event)
            return
        # A failed object is named once, with the other unreadable inputs (report_stats).
        self.counts[event.kind] += 1
        if self.progress is not None:
            done = sum(self.counts.values())
            self.progress.update(
                self.task, advance=event.size, description=f"{done}/{self.planned} files"
            )
        if sum(self.counts.values()) == self.planned:
            self._finish()

    def _planned(self, event: TransferEvent) -> None:
        self.planned, self.url = event.files, event.url
        self.counts = {"fetched": 0, "cached": 0, "failed": 0}
        left = []
        if event.skipped_window:
            left.append(f"{event.skipped_window} outside the time window")
        if event.skipped_stored:
            left.append(f"{event.skipped_stored} already in the store")
        info(
            f"{event.url}: {event.listed} object(s) listed; {event.files} to read "
            f"({_size(event.size)})" + (f"; {', '.join(left)}" if left else "")
        )
        if self.interactive and event.files:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(f"0/{event.files} files", total=event.size)

    def _finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        c = self.counts
        info(
            f"{self.url}: {c['fetched']} downloaded, {c['cached']} from the cache, "
            f"{c['failed']} failed"
        )


def aws_correlator(
    current: Correlator | None, has_local: bool, certs: Path | None, ignore_expiry: bool
) -> Correlator | None:
    """With ``--listener-arn``/``--trust-store-arn``: a Correlator over the files in effect."""
    values = _values()
    listener_arn, store_arn = values.get("listener_arn"), values.get("trust_store_arn")
    if not listener_arn and not store_arn:
        return current
    if has_local:
        raise UsageError("give --trust-store/--crl or --listener-arn/--trust-store-arn, not both")
    if listener_arn and store_arn:
        raise UsageError("give --listener-arn or --trust-store-arn, not both")
    if listener_arn:
        store_arn, ignore_expiry = _from_listener(listener_arn, ignore_expiry)
        if store_arn is None:
            return current
    assert store_arn is not None
    return _fetch_correlator(store_arn, certs, ignore_expiry, values)


def _from_listener(arn: str, flag: bool) -> tuple[str | None, bool]:
    from mtls_doctor.aws.listener import describe_listener

    values = _values()
    settings = describe_listener(arn, profile=values.get("profile"), region=values.get("region"))
    for finding in settings.findings:
        if finding.severity != "info":
            warn(f"listener: {finding.message}")
    if not settings.trust_store_arn:
        warn(f"{arn}: no trust store attached (mode {settings.mode}); no correlation")
        return None, flag
    ignore = settings.ignore_client_certificate_expiry
    if flag and not ignore:
        warn(
            "--ignore-expiry given, but the listener has IgnoreClientCertificateExpiry off; "
            "using the listener's setting"
        )
    return settings.trust_store_arn, ignore


def _fetch_correlator(
    arn: str, certs: Path | None, ignore_expiry: bool, values: dict[str, Any]
) -> Correlator:
    import shutil
    import tempfile

    from mtls_doctor.aws.truststore import fetch_trust_store
    from mtls_doctor.diagnose.correlate import Correlator

    folder = Path(tempfile.mkdtemp(prefix="mtls-doctor-ts-"))
    try:
        fetched = fetch_trust_store(
            arn,
            folder,
            now=datetime.now(UTC),
            profile=values.get("profile"),
            region=values.get("region"),
        )
        info(f"{arn}: CA bundle and {len(fetched.crls)} revocation list(s) fetched")
        # Correlator loads every file now, so the folder can go when it returns.
        return Correlator.from_files(fetched.bundle_path, fetched.crl_paths, certs, ignore_expiry)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def profile_region() -> tuple[str | None, str | None]:
    """``--profile`` and ``--region`` of the current command."""
    values = _values()
    return values.get("profile"), values.get("region")
