"""``cert inspect``, ``cert check`` and ``trust-store check``: thin shells over mtls_doctor.pki."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.cli._base import cli, finish, format_option, warn
from mtls_doctor.diagnose.logline import parse_log_line
from mtls_doctor.errors import ExitCode, UsageError
from mtls_doctor.knowledge.policies import SecurityPolicy, get_policy
from mtls_doctor.pki import render
from mtls_doctor.pki.bundle import check_trust_store, write_fixed_bundle
from mtls_doctor.pki.incompatible import IncompatibilityHypotheses, incompatibility_hypotheses
from mtls_doctor.pki.inspect import describe_chain
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCertificates, load_certificates
from mtls_doctor.pki.logmatch import compare_with_log
from mtls_doctor.pki.verdict import TrustStore, check_chain
from mtls_doctor.report.policy_text import hypotheses_text
from mtls_doctor.timeutil import parse_time

F = TypeVar("F", bound=Callable[..., Any])
_FILE = click.Path(dir_okay=False, path_type=Path)  # a missing file is exit 3, not 2


def _limit_options(func: F) -> F:
    return click.option(
        "--limit",
        "limit_values",
        multiple=True,
        metavar="NAME=VALUE",
        help="Change an ALB limit or assumption, e.g. max_chain_depth=5 or "
        "chain_depth_counts=presented (names in docs/certificates.md). Repeatable.",
    )(func)


def _crl_option(func: F) -> F:
    return click.option(
        "--crl", "crls", multiple=True, type=_FILE, help="A CRL file (PEM). Repeatable."
    )(func)


def _limits(values: tuple[str, ...]) -> AlbLimits:
    pairs = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep:
            raise UsageError(f"--limit {value!r} is not NAME=VALUE")
        pairs[name.strip()] = raw
    return AlbLimits().with_overrides(pairs)


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@cli.group()
def cert() -> None:
    """Inspect client certificates and predict the ALB's verdict for them."""


@cert.command("inspect")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@format_option("text", "json")
def cert_inspect(files: tuple[Path, ...], fmt: str) -> None:
    """Show each certificate in FILE... (PEM, DER or .p7b), leaf first, with who signed whom.

    Private keys in the files are ignored and never shown.

    \b
    Example:
      mtls-doctor cert inspect client-chain.pem
      mtls-doctor cert inspect client.der --format json
    """
    groups = []
    for path in files:
        loaded = load_certificates(path)
        for message in loaded.warnings:
            warn(message)
        groups.append((str(path), describe_chain(loaded.certificates, loaded.ders)))
    if fmt == "json":
        files_out = [{"path": p, "certificates": [c.to_dict() for c in cs]} for p, cs in groups]
        _echo_json({"schema_version": 1, "files": files_out})
    else:
        click.echo(render.inspect_text(groups))
    finish(ExitCode.OK)


@cert.command("check")
@click.argument("chain", type=_FILE)
@click.option("--trust-store", "bundle", type=_FILE, help="CA bundle (PEM); needed for a verdict.")
@click.option(
    "--policy",
    "policy_name",
    help="Listener security policy: add the inferred ClientCertIncompatible hypotheses.",
)
@_crl_option
@click.option("--at", "at_text", help="Check time, ISO 8601 or 2h/7d back (default: now).")
@click.option("--ignore-expiry", is_flag=True, help="As IgnoreClientCertificateExpiry=true.")
@click.option("--log-line", help="A connection-log line: use its time, compare its status.")
@_limit_options
@format_option("text", "json")
def cert_check(
    chain: Path,
    bundle: Path | None,
    policy_name: str | None,
    crls: tuple[Path, ...],
    at_text: str | None,
    ignore_expiry: bool,
    log_line: str | None,
    limit_values: tuple[str, ...],
    fmt: str,
) -> None:
    """Predict the ALB's tls_verify_status for CHAIN (leaf first, then intermediates).

    Every finding is listed; the verdict is the one the ALB would log. With --policy, the
    inferred reasons the policy could refuse the leaf (ClientCertIncompatible) are added,
    each with the check that confirms it. Exit 0 for Success and no hypothesis, 1 for any
    other verdict or a fitting hypothesis, 3 for unreadable input.

    \b
    Example:
      mtls-doctor cert check chain.pem --trust-store bundle.pem --crl ca.crl.pem
      mtls-doctor cert check chain.pem --policy ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07
      mtls-doctor cert check chain.pem --trust-store bundle.pem \\
          --log-line "$(zcat conn.log.gz | grep 203.0.113.9 | head -1)"
    """
    if at_text and log_line:
        raise UsageError("give --at or --log-line, not both (the log line sets the time)")
    if bundle is None and policy_name is None:
        raise UsageError("give --trust-store BUNDLE (for a verdict) or --policy NAME, or both")
    policy = get_policy(policy_name) if policy_name is not None else None
    loaded = load_certificates(chain, lenient=True)
    for message in loaded.warnings:
        warn(message)
    fit = _policy_fit(loaded, policy)
    if bundle is None:
        _policy_only(loaded, fit, fmt)
    now = datetime.now(UTC)
    logged = parse_log_line(log_line) if log_line else None
    at = logged.timestamp if logged else (parse_time(at_text, now=now) if at_text else now)
    store = TrustStore.from_files(bundle, crls)
    for message in store.warnings:
        warn(message)
    result = check_chain(
        loaded.ders, store, at=at, ignore_expiry=ignore_expiry, limits=_limits(limit_values)
    )
    comparison = None
    if logged is not None:
        leaf = loaded.certificates[0] if 0 not in loaded.invalid_indexes else None
        comparison = compare_with_log(
            logged,
            result.verdict,
            leaf.serial_number if leaf else None,
            leaf.subject.rfc4514_string() if leaf else None,
        )
    if fmt == "json":
        data = result.to_dict()
        data["log_line"] = comparison.to_dict() if comparison else None
        data["policy_fit"] = fit.to_dict() if fit else None
        _echo_json(data)
    else:
        click.echo(render.verdict_text(result, comparison))
        if fit is not None:
            click.echo(hypotheses_text(fit))
    finish(ExitCode.OK if result.ok and not (fit and fit.hypotheses) else ExitCode.FINDINGS)


def _policy_fit(
    loaded: LoadedCertificates, policy: SecurityPolicy | None
) -> IncompatibilityHypotheses | None:
    if policy is None:
        return None
    if not loaded.certificates or 0 in loaded.invalid_indexes:
        warn("the leaf is not valid X.509: no policy hypotheses")
        return None
    return incompatibility_hypotheses(loaded.certificates[0], policy)


def _policy_only(
    loaded: LoadedCertificates, fit: IncompatibilityHypotheses | None, fmt: str
) -> NoReturn:
    """``cert check --policy`` without a trust store: the chain and the hypotheses only."""
    if fmt == "json":
        ders = [c.public_bytes(Encoding.DER) for c in loaded.certificates]
        data = {
            "schema_version": 1,
            "verdict": None,
            "findings": [],
            "chain": [c.to_dict() for c in describe_chain(loaded.certificates, ders)],
            "log_line": None,
            "policy_fit": fit.to_dict() if fit else None,
        }
        _echo_json(data)
    elif fit is not None:
        click.echo(hypotheses_text(fit))
    finish(ExitCode.FINDINGS if fit and fit.hypotheses else ExitCode.OK)


@cli.group("trust-store")
def trust_store() -> None:
    """Check a trust-store CA bundle and its CRLs before uploading them."""


@trust_store.command("check")
@click.argument("bundle", type=_FILE)
@_crl_option
@click.option(
    "--warn-days",
    default=30,
    show_default=True,
    type=click.IntRange(0),
    help="Warn about CAs that expire within this many days.",
)
@click.option("--at", "at_text", help="Check as of this time (ISO 8601; default: now).")
@click.option(
    "--fix",
    "fix_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a cleaned bundle here (comments, blank lines, duplicates, non-CAs removed).",
)
@_limit_options
@format_option("text", "json")
def trust_store_check(
    bundle: Path,
    crls: tuple[Path, ...],
    warn_days: int,
    at_text: str | None,
    fix_out: Path | None,
    limit_values: tuple[str, ...],
    fmt: str,
) -> None:
    """Check BUNDLE (and --crl files) against the ALB's upload rules and quotas.

    Exit 0 when nothing is an error (warnings such as "expiring soon" allowed), 1 otherwise.

    \b
    Example:
      mtls-doctor trust-store check bundle.pem --crl ca.crl.pem
      mtls-doctor trust-store check bundle.pem --fix bundle.clean.pem --format json
    """
    now = datetime.now(UTC)
    at = parse_time(at_text, now=now) if at_text else now
    report = check_trust_store(
        bundle, crls, now=at, warn_days=warn_days, limits=_limits(limit_values)
    )
    fixed = write_fixed_bundle(bundle, fix_out) if fix_out else None
    if fmt == "json":
        data = report.to_dict()
        data["fix"] = fixed.to_dict() if fixed else None
        _echo_json(data)
    else:
        click.echo(render.trust_store_text(report, fixed))
    finish(ExitCode.OK if report.ok else ExitCode.FINDINGS)
