"""``--changes SOURCE`` and ``--changes-lookback``: the configuration changes behind each
change point (docs/changes.md), for ``diagnose`` and ``report``.

The CLI builds the readers from :mod:`mtls_doctor.aws` and passes them to the library, which
never names aws. The change source never ends the command: what could not be read is a
warning on stderr and in the diagnosis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from mtls_doctor.cli._aws_options import option_values
from mtls_doctor.cli._base import info, warn
from mtls_doctor.diagnose.causes import FindChain
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.trail.files import ChangeRead, read_folder, read_safely
from mtls_doctor.trail.objects import FolderVersions, ObjectFetcher
from mtls_doctor.trail.select import Scope

F = TypeVar("F", bound=Callable[..., Any])
_META = "mtls_doctor.changes"
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def _lookback(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration (examples: 30m, 2h, 1d)")
    return _keep(ctx, param, timedelta(**{_UNITS[match[2]]: int(match[1])}))  # type: ignore[no-any-return]


def change_options(func: F) -> F:
    """``--changes``, ``--changes-lookback`` and ``--changes-objects``."""
    func = click.option(
        "--changes-objects",
        metavar="DIR",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        expose_value=False,
        callback=_keep,
        help="Read the CA bundle and CRL versions the events name from this folder "
        "(BUCKET/KEY/VERSION, as the demo keeps them in s3-versions/) instead of S3.",
    )(func)
    func = click.option(
        "--changes-lookback",
        default="30m",
        show_default=True,
        metavar="DURATION",
        expose_value=False,
        callback=_lookback,
        help="How long before a change point to look for the change that caused it.",
    )(func)
    return click.option(
        "--changes",
        metavar="SOURCE",
        expose_value=False,
        callback=_keep,
        help="Find the configuration change behind each change point: 'cloudtrail' "
        "(LookupEvents), a folder of CloudTrail files, or s3://bucket/prefix of them.",
    )(func)


def _reader(
    source: str, since: datetime, until: datetime, aws: dict[str, Any]
) -> Callable[[], ChangeRead]:
    profile, region = aws.get("profile"), aws.get("region")
    listener = aws.get("listener_arn")
    if source == "cloudtrail":
        from mtls_doctor.aws.cloudtrail import lookup_events
        from mtls_doctor.aws.session import region_of_arn

        region = region or (region_of_arn(listener) if listener else None)
        return lambda: lookup_events(since, until, region=region, profile=profile)
    if source.startswith("s3://"):
        from mtls_doctor.aws.cloudtrail import read_s3

        return lambda: read_s3(source, since, until, profile=profile)
    return lambda: read_folder(Path(source), since, until)


def _fetcher(folder: Path | None, aws: dict[str, Any]) -> ObjectFetcher | None:
    if folder is not None:
        return FolderVersions(folder)
    from mtls_doctor.aws.cloudtrail import S3Versions

    try:
        return S3Versions(profile=aws.get("profile"))
    except MtlsDoctorError as error:
        warn(f"change evidence: no S3 access ({error.message}); CRLs and bundles not read")
        return None


def _scope(aws: dict[str, Any]) -> Scope:
    listener, store, lb = aws.get("listener_arn"), aws.get("trust_store_arn"), aws.get("lb")
    if lb and ":loadbalancer/" in lb:
        lb = lb.split(":loadbalancer/", 1)[1]
    elif lb and "/" not in lb:
        lb = lb.replace(".", "/") if lb.startswith("app.") else f"app/{lb}"
    return Scope(
        listeners=frozenset([listener] if listener else []),
        load_balancers=frozenset([lb] if lb else []),
        trust_stores=frozenset([store] if store else []),
    )


def _find_chain(certs: Path | None) -> FindChain | None:
    """A failing serial's chain from ``--certs`` (any subject: the log's serial decides)."""
    if certs is None:
        return None
    from mtls_doctor.diagnose.correlate import ClientCertIndex

    index = ClientCertIndex.from_folder(certs)
    return lambda serial: index.find(serial, None)


def apply_changes(result: Diagnosis, certs: Path | None = None) -> Diagnosis:
    """``result`` with the causes of its change points, when ``--changes`` was given.

    ``certs``: the ``--certs`` folder, whose chains are checked against both bundles.
    """
    values = click.get_current_context().meta.get(_META, {})
    source, lookback = values.get("changes"), values.get("changes_lookback")
    if not source:
        return result
    from mtls_doctor.diagnose.causes import attach_causes, change_window

    lookback = lookback or timedelta(minutes=30)
    window = change_window(result, lookback)
    if window is None:
        info(f"--changes {source}: no significant change point, so no change to look for")
        return result
    aws = option_values()
    read = read_safely(source, _reader(source, *window, aws))
    writes = sum(1 for e in read.events if e.is_write)
    files = f" of {read.files_read} file(s)" if read.files_read else ""
    info(f"--changes {source}: {writes} ELB write(s) in {read.records_read} record(s){files}")
    for problem in read.problems:
        warn(problem)
    fetcher = _fetcher(values.get("changes_objects"), aws)
    find = _find_chain(certs)
    return attach_causes(result, read, fetcher, _scope(aws), lookback, find)


def dashboard_explainer(certs: Path | None = None) -> Callable[[Diagnosis], Diagnosis] | None:
    """For ``serve --changes``: each page's diagnosis with its causes; None without --changes.

    The change source is read once per window of change points (pages of the same filters
    share it), and each object version once while the dashboard runs.
    """
    values = click.get_current_context().meta.get(_META, {})
    source = values.get("changes")
    if not source:
        return None
    from mtls_doctor.diagnose.causes import attach_causes, change_window
    from mtls_doctor.trail.objects import CachedFetcher

    lookback = values.get("changes_lookback") or timedelta(minutes=30)
    aws = option_values()  # now: requests run outside the click context
    inner = _fetcher(values.get("changes_objects"), aws)
    fetcher = CachedFetcher(inner) if inner is not None else None
    find = _find_chain(certs)
    reads: dict[tuple[datetime, datetime], ChangeRead] = {}

    def explain(result: Diagnosis) -> Diagnosis:
        window = change_window(result, lookback)
        if window is None:
            return result
        if window not in reads:
            if len(reads) > 32:
                reads.clear()
            reads[window] = read_safely(source, _reader(source, *window, aws))
        return attach_causes(result, reads[window], fetcher, _scope(aws), lookback, find)

    return explain
