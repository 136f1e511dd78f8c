"""``pki scenarios``, ``pki issue`` and ``sandbox``: reproduce ALB mTLS failures locally."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from mtls_doctor.cli._base import cli, finish, format_option, info, warn
from mtls_doctor.errors import ExitCode, UsageError
from mtls_doctor.pki.issue import EKU_CHOICES, KEY_TYPES, issue_client, load_ca
from mtls_doctor.pki.scenarios import build_scenarios
from mtls_doctor.sandbox.config import JSON_VALUES, LOG_FORMATS, MODES, SandboxConfig, parse_listen
from mtls_doctor.sandbox.server import Sandbox


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not an ISO 8601 time", hint="e.g. 2025-01-31T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _echo_json(data: dict[str, object]) -> None:
    click.echo(json.dumps(data, indent=2))


@cli.group()
def pki() -> None:
    """Test certificates: a scenario PKI for every ALB failure, and custom client certificates.

    \b
    Example:
      mtls-doctor pki scenarios ./pki
      mtls-doctor pki issue --ca ./pki/ca/root-ca.pem --out ./mine --days 1
    """


@pki.command("scenarios")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--at", "at_text", metavar="TIME", help="Validity reference time (default: now).")
@format_option("text", "json")
def pki_scenarios(out_dir: Path, at_text: str | None, fmt: str) -> None:
    """Write a test PKI and one client per failure case, with manifest.json.

    Writes a root and an intermediate CA, a server certificate for localhost/127.0.0.1,
    trust-store.pem, crl.pem, and for each scenario a client chain and key (keys mode 0600).
    manifest.json lists each scenario with its files and the tls_verify_status the ALB is
    expected to log.

    \b
    Example:
      mtls-doctor pki scenarios ./pki
      mtls-doctor sandbox --trust-store ./pki/trust-store.pem --crl ./pki/crl.pem \\
          --server-cert ./pki/server/cert.pem --server-key ./pki/server/key.pem --log-dir ./logs
    """
    at = _parse_time(at_text, "--at") or datetime.now(UTC)
    result = build_scenarios(out_dir, at=at)
    if fmt == "json":
        _echo_json(result.to_dict())
    else:
        width = max(len(s.name) for s in result.scenarios)
        for scenario in result.scenarios:
            click.echo(f"{scenario.name:<{width}}  {scenario.expected_tls_verify_status}")
        info(f"wrote {out_dir / 'manifest.json'}; private keys are mode 0600, for testing only")
    finish(ExitCode.OK)


@pki.command("issue")
@click.option(
    "--ca",
    "ca_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Issuing CA certificate (PEM).",
)
@click.option(
    "--ca-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CA's private key [default: the --ca path with a .key suffix].",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for cert.pem, key.pem and chain.pem.",
)
@click.option(
    "--days", default=365, show_default=True, type=click.IntRange(min=0), help="Validity length."
)
@click.option(
    "--not-before",
    "not_before_text",
    metavar="TIME",
    help="Start of validity, ISO 8601 [default: now minus 5 minutes].",
)
@click.option(
    "--key",
    "key_type",
    default="ec256",
    show_default=True,
    type=click.Choice(KEY_TYPES),
    help="Key type of the new certificate.",
)
@click.option(
    "--eku",
    default="clientAuth",
    show_default=True,
    type=click.Choice(EKU_CHOICES),
    help="Extended key usage.",
)
@click.option("--cn", "common_name", default="client", show_default=True, help="Common name.")
@format_option("text", "json")
def pki_issue(
    ca_path: Path,
    ca_key: Path | None,
    out_dir: Path,
    days: int,
    not_before_text: str | None,
    key_type: str,
    eku: str,
    common_name: str,
    fmt: str,
) -> None:
    """Mint one client certificate for a custom case.

    chain.pem holds the certificate and, when the CA is an intermediate, the CA too: the
    chain a client should send.

    \b
    Example:
      mtls-doctor pki issue --ca ./pki/ca/intermediate-ca.pem --out ./short --days 0
      mtls-doctor pki issue --ca ./pki/ca/root-ca.pem --out ./weak --key rsa1024
    """
    ca = load_ca(ca_path, ca_key or ca_path.with_suffix(".key"))
    now = datetime.now(UTC)
    result = issue_client(
        ca,
        out_dir,
        at=now,
        days=days,
        not_before=_parse_time(not_before_text, "--not-before"),
        key_type=key_type,
        eku=eku,
        common_name=common_name,
    )
    if fmt == "json":
        _echo_json(result.to_dict())
    else:
        for key, value in result.to_dict().items():
            if key != "schema_version":
                click.echo(f"{key}: {value}")
    finish(ExitCode.OK)


@cli.command("sandbox")
@click.option(
    "--trust-store",
    type=click.Path(path_type=Path),
    help="CA bundle (PEM); required in verify mode.",
)
@click.option(
    "--crl",
    "crls",
    multiple=True,
    type=click.Path(path_type=Path),
    help="CRL file (PEM); repeatable.",
)
@click.option(
    "--listen",
    default="127.0.0.1:8443",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to listen on; port 0 picks a free one.",
)
@click.option(
    "--log-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the AWSLogs/... connection-log files go.",
)
@click.option(
    "--server-cert",
    type=click.Path(path_type=Path),
    help="Server certificate (PEM, then its chain) [default: a temporary one].",
)
@click.option(
    "--server-key",
    type=click.Path(path_type=Path),
    help="Server private key (PEM).",
)
@click.option("--mode", default="verify", show_default=True, type=click.Choice(MODES))
@click.option("--ignore-expiry", is_flag=True, help="Accept expired client certificates.")
@click.option(
    "--advertise-ca-names",
    is_flag=True,
    help="Send the trust store's CA names in the certificate request.",
)
@click.option("--target", metavar="URL", help="Forward requests here [default: echo as JSON].")
@click.option(
    "--rotate-seconds",
    default=300,
    show_default=True,
    type=click.IntRange(min=1),
    help="Write a log file this often (and on SIGTERM/SIGINT).",
)
@click.option("--account-id", default="123456789012", show_default=True)
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--lb-name", default="mtls-sandbox", show_default=True)
@click.option(
    "--handshake-timeout",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds before a silent client is dropped (and logged).",
)
@click.option(
    "--idle-timeout",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds a keep-alive connection may idle.",
)
@click.option(
    "--log-format",
    default="legacy",
    show_default=True,
    type=click.Choice(LOG_FORMATS),
    help="legacy: conn_log_*.log.gz lines; json: vended JSON lines, gzip (see docs).",
)
@click.option(
    "--json-values",
    default="typed",
    show_default=True,
    type=click.Choice(JSON_VALUES),
    help="With --log-format json: numbers and null, or strings and '-' (AWS's is unconfirmed).",
)
def sandbox_cmd(
    trust_store: Path | None,
    crls: tuple[Path, ...],
    listen: str,
    log_dir: Path,
    server_cert: Path | None,
    server_key: Path | None,
    mode: str,
    ignore_expiry: bool,
    advertise_ca_names: bool,
    target: str | None,
    rotate_seconds: int,
    account_id: str,
    region: str,
    lb_name: str,
    handshake_timeout: float,
    idle_timeout: float,
    log_format: str,
    json_values: str,
) -> None:
    """Run a local ALB-like HTTPS listener with mTLS that writes real connection logs.

    The first line on stdout is the URL. Verify mode decides with the same engine as
    `cert check`; rejected clients get a closed connection, never an HTTP response. Good
    clients get HTTP/1.1: forwarded to --target with the X-Amzn-Mtls-* headers, or answered
    with a JSON echo of those headers. Stop with Ctrl-C or SIGTERM: the last log file is
    written before exit.

    \b
    Example:
      mtls-doctor sandbox --trust-store ./pki/trust-store.pem --crl ./pki/crl.pem \\
          --server-cert ./pki/server/cert.pem --server-key ./pki/server/key.pem \\
          --listen 127.0.0.1:8443 --log-dir ./logs
      curl --cacert ./pki/ca/root-ca.pem --cert ./pki/clients/success-root/chain.pem \\
          --key ./pki/clients/success-root/key.pem https://localhost:8443/
      mtls-doctor diagnose ./logs
    """
    host, port = parse_listen(listen)
    config = SandboxConfig(
        log_dir=log_dir,
        trust_store=trust_store,
        crls=crls,
        host=host,
        port=port,
        server_cert=server_cert,
        server_key=server_key,
        mode=mode,
        ignore_expiry=ignore_expiry,
        advertise_ca_names=advertise_ca_names,
        target=target,
        rotate_seconds=rotate_seconds,
        account_id=account_id,
        region=region,
        lb_name=lb_name,
        handshake_timeout=handshake_timeout,
        idle_timeout=idle_timeout,
        log_format=log_format,
        json_values=json_values,
    )
    sandbox = Sandbox(config)
    url = sandbox.start()
    click.echo(url)
    sys.stdout.flush()  # the URL must reach a pipe reader before we block
    if host not in ("127.0.0.1", "::1", "localhost"):
        warn(f"listening on {host}, not loopback: other machines can connect")
    if sandbox.temporary_server_cert:
        warn(
            "no --server-cert: using a temporary self-signed certificate for localhost "
            "(clients must skip server verification, e.g. curl -k)"
        )
    info(f"mode {mode}; connection logs under {log_dir}; stop with Ctrl-C or SIGTERM")
    summary = sandbox.run_forever()
    statuses = ", ".join(f"{k}={v}" for k, v in sorted(summary.statuses.items())) or "none"
    info(
        f"{summary.connections} connection(s): {statuses}; "
        f"{summary.lines_written} line(s) in {len(summary.log_files)} file(s)"
    )
    # It only ever ends by Ctrl-C or SIGTERM: exit as interrupted (130), as `serve` does.
    finish(ExitCode.INTERRUPTED)
