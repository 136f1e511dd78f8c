"""``header decode``: the client-certificate header as a backend receives it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from mtls_doctor.cli._base import cli, finish, format_option, warn
from mtls_doctor.errors import ExitCode, UsageError
from mtls_doctor.headers import MAX_VALUE_CHARS, decode_client_cert
from mtls_doctor.timeutil import parse_time

_FILE = click.Path(dir_okay=False, path_type=Path)  # a missing file is exit 3, not 2


def _read_value(value: str | None) -> str | bytes:
    if value is not None and value != "-":
        return value
    if value is None and sys.stdin.isatty():
        raise UsageError("give the header VALUE, or - to read it from stdin")
    return sys.stdin.buffer.read(MAX_VALUE_CHARS + 1)


@cli.group()
def header() -> None:
    """The X-Amzn-Mtls-* request headers, as the backend behind the ALB receives them."""


# A PEM value starts with "-----": it is VALUE, not an unknown option.
@header.command("decode", context_settings={"ignore_unknown_options": True})
@click.argument("value", required=False)
@click.option("--trust-store", "bundle", type=_FILE, help="CA bundle: also give the ALB verdict.")
@click.option("--crl", "crls", multiple=True, type=_FILE, help="A CRL file (PEM). Repeatable.")
@click.option("--at", "at_text", help="Verdict time, ISO 8601 or 2h/7d back (default: now).")
@format_option("text", "json")
def header_decode(
    value: str | None, bundle: Path | None, crls: tuple[Path, ...], at_text: str | None, fmt: str
) -> None:
    """Decode an X-Amzn-Mtls-Clientcert value (or pasted X-Amzn-Mtls-* lines; - = stdin).

    Reads the value raw (URL-encoded), already decoded, or damaged by a form decoder that
    turned '+' into spaces (repaired, with a note). Pasted header lines are cross-checked
    against the certificate. Exit 0 when all is well, 1 for a header mismatch or a verdict
    other than Success, 3 for a value that is not a certificate header.

    \b
    Example:
      mtls-doctor header decode "$CERT_HEADER_VALUE"
      pbpaste | mtls-doctor header decode - --trust-store bundle.pem --format json
    """
    if (crls or at_text) and bundle is None:
        raise UsageError("--crl and --at need --trust-store")
    decoded = decode_client_cert(_read_value(value))
    for message in decoded.warnings:
        warn(message)
    verdict = None
    if bundle is not None:
        from mtls_doctor.pki.verdict import TrustStore, check_chain

        now = datetime.now(UTC)
        store = TrustStore.from_files(bundle, crls)
        for message in store.warnings:
            warn(message)
        at = parse_time(at_text, now=now) if at_text else now
        verdict = check_chain(decoded.ders, store, at=at)
    if fmt == "json":
        data = decoded.to_dict()
        data["verdict"] = verdict.to_dict() if verdict else None
        click.echo(json.dumps(data, indent=2))
    else:
        from mtls_doctor.report.header_text import decoded_text

        click.echo(decoded_text(decoded, verdict))
    bad = bool(decoded.mismatches) or (verdict is not None and not verdict.ok)
    finish(ExitCode.FINDINGS if bad else ExitCode.OK)
