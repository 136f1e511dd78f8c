"""Settings of the local ALB-like mTLS listener (``mtls-doctor sandbox``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mtls_doctor.errors import UsageError

MODES: tuple[str, ...] = ("verify", "passthrough")
# legacy: the S3 conn_log_*.log.gz line; json: vended JSON lines (spec §2), gzip as well.
LOG_FORMATS: tuple[str, ...] = ("legacy", "json")
# How vended JSON writes values: UNCONFIRMED (spec §2.2) whether AWS writes numbers and null
# or strings and "-", so both can be produced. typed: numbers, null; string: strings, "-".
JSON_VALUES: tuple[str, ...] = ("typed", "string")

# What we log when the TLS handshake itself fails or times out, before any verdict: AWS
# documents no code for this (spec §2). UNCONFIRMED; the catch-all code is our choice.
HANDSHAKE_FAILURE_CODE = "UnmappedConnectionError"


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8443`` for IPv6) into a pair; port 0 picks a free port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:8443")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything :class:`mtls_doctor.sandbox.server.Sandbox` needs; defaults are ALB-like."""

    log_dir: Path
    trust_store: Path | None = None  # required in verify mode
    crls: tuple[Path, ...] = ()
    host: str = "127.0.0.1"  # loopback unless the user asks otherwise
    port: int = 8443
    server_cert: Path | None = None  # PEM: the certificate, then its chain
    server_key: Path | None = None
    mode: str = "verify"
    ignore_expiry: bool = False
    advertise_ca_names: bool = False
    target: str | None = None  # http(s)://host:port[/prefix]; None = echo the headers
    rotate_seconds: int = 300  # the ALB delivers one file per node every 5 minutes
    account_id: str = "123456789012"
    region: str = "us-east-1"
    lb_name: str = "mtls-sandbox"
    lb_id: str | None = None  # 16 hex; default derived from lb_name so reruns match
    handshake_timeout: float = 10.0  # a silent client is dropped (and logged) after this
    idle_timeout: float = 60.0  # the ALB's default connection idle timeout
    drain_seconds: float = 5.0  # on stop: time given to open connections before closing them
    max_connections: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024
    # Characters left unencoded in the URL-encoded PEM headers. spec §4.2 says "+=/"; AWS's own
    # example encodes "=" as %3D. UNCONFIRMED which is right; a setting for that reason.
    header_safe_chars: str = "+=/"
    log_format: str = "legacy"
    json_values: str = "typed"
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "verify" and self.trust_store is None:
            raise UsageError(
                "verify mode needs a trust store",
                hint="Pass --trust-store BUNDLE.pem, or use --mode passthrough.",
            )
        if (self.server_cert is None) != (self.server_key is None):
            raise UsageError("--server-cert and --server-key go together")
        if self.log_format not in LOG_FORMATS:
            raise UsageError(f"log format {self.log_format!r} is not one of {LOG_FORMATS}")
        if self.json_values not in JSON_VALUES:
            raise UsageError(f"JSON values {self.json_values!r} is not one of {JSON_VALUES}")
        if self.rotate_seconds < 1:
            raise UsageError("--rotate-seconds must be at least 1")
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise UsageError(f"account id {self.account_id!r} is not 12 digits")
        if self.target and not self.target.startswith(("http://", "https://")):
            raise UsageError(f"--target {self.target!r} must start with http:// or https://")

    @property
    def load_balancer_id(self) -> str:
        return self.lb_id or hashlib.sha256(self.lb_name.encode()).hexdigest()[:16]

    @property
    def elb(self) -> str:
        """Field 14 of the log line: the resource id, ``app/NAME/ID`` (spec §1.4)."""
        return f"app/{self.lb_name}/{self.load_balancer_id}"
