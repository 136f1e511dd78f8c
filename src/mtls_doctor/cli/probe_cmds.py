"""``probe`` and ``support-bundle``: thin shells over mtls_doctor.probe and mtls_doctor.bundle."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from mtls_doctor.bundle import BundleSpec, build_support_bundle
from mtls_doctor.cli._aws_options import remote_openers
from mtls_doctor.cli._base import cli, finish, format_option, info, warn
from mtls_doctor.cli._options import build_filters, filter_options, input_options
from mtls_doctor.errors import ExitCode, UsageError
from mtls_doctor.probe import KeyPasswordRequired, ProbeOptions, key_needs_password, probe
from mtls_doctor.report.probe_text import render_text, render_trace

F = TypeVar("F", bound=Callable[..., Any])
# Missing or unreadable files are reported by the loaders (exit 3), not by click (exit 2).
_FILE = click.Path(path_type=Path)


def identity_options(func: F) -> F:
    """The client identity and how to reach the server, shared by both commands."""
    decorators = (
        click.option("--cert", type=_FILE, help="Client certificate chain (PEM, leaf first)."),
        click.option("--key", type=_FILE, help="Its private key (default: inside --cert)."),
        click.option(
            "--key-password-env",
            metavar="VAR",
            help="Environment variable holding the key's passphrase (else it is asked for).",
        ),
        click.option("--ca", type=_FILE, help="CA bundle to verify the server (default: off)."),
        click.option("--servername", help="SNI and the name to verify (default: the URL host)."),
        click.option("--request", "request_line", help="Request to send, e.g. 'GET /health'."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Seconds allowed per phase.",
        ),
    )
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def trust_options(func: F) -> F:
    decorators = (
        click.option("--trust-store", type=_FILE, help="The listener's CA bundle (PEM)."),
        click.option("--crl", "crls", multiple=True, type=_FILE, help="A CRL (repeatable)."),
        click.option("--ignore-expiry", is_flag=True, help="As IgnoreClientCertificateExpiry."),
    )
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _password(cert: Path | None, key: Path | None, env_name: str | None) -> bytes | None:
    """The key's passphrase from ``--key-password-env`` or a hidden prompt; never echoed."""
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise UsageError(f"--key-password-env {env_name}: that variable is not set")
        return value.encode("utf-8")
    key_path = key or cert
    if key_path is None or not key_needs_password(key_path):
        return None
    if not sys.stdin.isatty():
        raise KeyPasswordRequired(
            f"{key_path}: the private key is encrypted and there is no terminal to ask on",
            hint="Put the passphrase in a variable and pass --key-password-env VAR.",
        )
    text: str = click.prompt(f"Passphrase for {key_path}", hide_input=True, err=True)
    return text.encode("utf-8")


def _probe_options(url: str, values: dict[str, Any]) -> ProbeOptions:
    return ProbeOptions(
        url=url,
        cert=values["cert"],
        key=values["key"],
        key_password=_password(values["cert"], values["key"], values["key_password_env"]),
        ca=values["ca"],
        servername=values["servername"],
        request=values["request_line"],
        trust_store=values.get("trust_store"),
        crls=tuple(values.get("crls") or ()),
        ignore_expiry=bool(values.get("ignore_expiry")),
        timeout=values["timeout"],
    )


@cli.command("probe")
@click.argument("url")
@identity_options
@trust_options
@click.option("--trace", is_flag=True, help="Also print OpenSSL's handshake states (stderr).")
@format_option("text", "json")
def probe_cmd(url: str, trace: bool, fmt: str, **values: Any) -> None:
    """Connect to a live mTLS endpoint and show what happened, and whose side failed.

    Shows the TLS version and cipher, the server's chain, whether the server asked for a
    client certificate and which CA names it advertised, the chain sent, the HTTP answer,
    the time of each phase and how the connection ended. Then checks the client chain
    against the advertised CA names or --trust-store. Without --ca the server is NOT
    verified. The private key is never printed. Exit 0 when the request got an HTTP
    answer below 400, 1 when it failed (the server rejected us, or the server is not
    trusted), 4 when the host could not be reached.

    \b
    Example:
      mtls-doctor probe https://api.example.com --cert chain.pem --key key.pem
      mtls-doctor probe https://10.0.0.5:8443 --cert chain.pem --key key.pem \\
          --ca server-ca.pem --servername api.example.com --request 'GET /health' \\
          --trust-store bundle.pem --format json
    """
    result = probe(_probe_options(url, values), now=datetime.now(UTC))
    for message in result.warnings:
        warn(message)
    if trace:
        info(render_trace(result).rstrip("\n"))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_text(result), nl=False)
    finish(ExitCode.OK if result.conclusion.ok else ExitCode.FINDINGS)


def _command_line(ctx: click.Context) -> tuple[str, ...]:
    """The options the user gave, rebuilt from click's parse (no secrets are options)."""
    words = ["mtls-doctor", ctx.info_name or "support-bundle"]
    for param in ctx.command.params:
        name = param.name or ""
        if ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            words += [str(v) for v in value or ()]
            continue
        flag = param.opts[0] if isinstance(param, click.Option) else name
        if isinstance(param, click.Option) and param.is_flag:
            words.append(flag)
        elif isinstance(value, tuple | list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return tuple(words)


@cli.command("support-bundle")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", help="Endpoint to probe (https://HOST[:PORT]).")
@identity_options
@trust_options
@input_options
@filter_options
@click.option("--redact-ips", is_flag=True, help="Replace client IPs with pseudonyms.")
@click.option(
    "--max-log-rows",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="At most this many log rows in the bundle.",
)
@format_option("text", "json")
@click.pass_context
def support_bundle(
    ctx: click.Context,
    /,
    out: Path,
    url: str | None,
    paths: tuple[str, ...],
    db: Path | None,
    strict: bool,
    redact_ips: bool,
    max_log_rows: int,
    fmt: str,
    **values: Any,
) -> None:
    """Write one zip with what support asks for: probe, chain, logs, diagnosis, manifest.

    Sections: the probe transcript (--url), the client chain (--cert; a private key in
    that file is stripped, a file that is only a key is refused), the connection-log rows
    of the slice (PATHS or --db, with --client-ip/--since/--until...), the diagnose report
    for that slice (markdown and JSON), the trust-store check (--trust-store), and a
    manifest with versions, the command line and the SHA-256 of every file. The archive is
    written atomically with mode 0600. Exit 0 when it was written.

    \b
    Example:
      mtls-doctor support-bundle --out case-1234.zip --url https://api.example.com \\
          --cert chain.pem --key key.pem --trust-store bundle.pem \\
          logs/ --client-ip 203.0.113.9 --since 6h --redact-ips
    """
    now = datetime.now(UTC)
    filter_keys = "client_ip since until status subject serial listener_port tls_protocol"
    filters = build_filters({k: values.pop(k) for k in filter_keys.split()}, now)
    spec = BundleSpec(
        out=out,
        now=now,
        command_line=_command_line(ctx),
        probe=_probe_options(url, values) if url else None,
        cert=values["cert"],
        log_inputs=paths,
        db=db,
        filters=filters,
        strict=strict,
        trust_store=values["trust_store"],
        crls=tuple(values["crls"]),
        ignore_expiry=values["ignore_expiry"],
        redact_ips=redact_ips,
        max_log_rows=max_log_rows,
        openers=remote_openers(filters, now) if paths else None,
    )
    result = build_support_bundle(spec)
    for message in result.warnings:
        warn(message)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"wrote {result.out} ({len(result.files) + 1} files, mode 0600)")
        for item in result.files:
            click.echo(f"  {item.name:<26} {item.size:>9} bytes  {item.description}")
        for section, reason in result.omitted:
            click.echo(f"  left out: {section} ({reason})")
    finish(ExitCode.OK)
