"""The sections of a support bundle, each built by the library function that owns the data.

Every section returns :class:`Section` objects: file name, text or bytes, a description.
Nothing here reads a private key: the client chain goes through the certificate loader,
which skips key blocks without decoding them, and is written back from the certificates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.diagnose.correlate import Correlator
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.errors import CertificateLoadError, NetworkError
from mtls_doctor.logs.api import export_row, open_selection
from mtls_doctor.logs.query import Filters
from mtls_doctor.logs.sources import Opener
from mtls_doctor.pki.bundle import check_trust_store
from mtls_doctor.pki.inspect import describe_chain
from mtls_doctor.pki.load import load_certificates
from mtls_doctor.pki.render import inspect_text, trust_store_text, verdict_text
from mtls_doctor.pki.verdict import TrustStore, check_chain
from mtls_doctor.probe.client import probe
from mtls_doctor.probe.model import ProbeOptions
from mtls_doctor.report.diagnosis_text import render_markdown
from mtls_doctor.report.probe_text import render_text, render_trace

_KEY_LABEL = b"PRIVATE KEY-----"


@dataclass(frozen=True)
class Section:
    """One file for the archive; ``redactable`` text gets client IPs replaced."""

    name: str
    data: bytes
    description: str
    redactable: bool = True


@dataclass
class Gathered:
    """Sections so far, plus what the manifest must say about them."""

    sections: list[Section] = field(default_factory=list)
    omitted: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    client_ips: set[str] = field(default_factory=set)
    probe_outcome: str | None = None
    log_rows: int | None = None

    def add(self, name: str, text: str, description: str, redactable: bool = True) -> None:
        self.sections.append(Section(name, text.encode("utf-8"), description, redactable))


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def gather_probe(out: Gathered, options: ProbeOptions, now: datetime) -> None:
    """``probe.txt`` (with the handshake trace) and ``probe.json``; an unreachable host is
    recorded, not raised: that is itself what support needs to see."""
    try:
        result = probe(options, now=now)
    except NetworkError as error:
        out.probe_outcome = "unreachable"
        text = f"error: {error.message}\n" + (f"hint: {error.hint}\n" if error.hint else "")
        out.add("probe.txt", text, "the probe could not reach the endpoint")
        out.warnings.append(f"probe: {error.message}")
        return
    out.probe_outcome = result.conclusion.outcome
    out.add(
        "probe.txt",
        render_text(result)
        + "".join(f"warning: {w}\n" for w in result.warnings)
        + "\nhandshake trace:\n"
        + render_trace(result),
        "probe transcript (text)",
    )
    out.add("probe.json", _json(result.to_dict()), "probe result (JSON, schema in docs/probe.md)")


def gather_certificate(out: Gathered, cert: Path) -> None:
    """``client-chain.pem`` rebuilt from the certificates only, and its inspection."""
    try:
        loaded = load_certificates(cert, lenient=True)
    except CertificateLoadError:
        if _KEY_LABEL in _head(cert):
            raise CertificateLoadError(
                f"{cert} holds a private key and no certificate; refusing to bundle it",
                hint="--cert takes the client certificate chain, never the key alone.",
            ) from None
        raise
    if loaded.had_private_key:
        out.warnings.append(
            f"{cert} also holds a private key: it was stripped; the bundle holds the "
            "certificates only"
        )
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in loaded.certificates)
    out.sections.append(
        Section("client-chain.pem", pem, "client certificate chain (certificates only)", False)
    )
    ders = [c.public_bytes(Encoding.DER) for c in loaded.certificates]
    summaries = describe_chain(list(loaded.certificates), ders)
    out.add("client-chain.txt", inspect_text([(cert.name, summaries)]) + "\n", "chain inspection")


def _head(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def gather_cert_check(
    out: Gathered,
    cert: Path,
    trust_store: Path,
    crls: tuple[Path, ...],
    now: datetime,
    ignore: bool,
) -> None:
    """``cert-check.*``: the predicted verdict of the client chain against the trust store."""
    loaded = load_certificates(cert, lenient=True)
    store = TrustStore.from_files(trust_store, crls)
    result = check_chain(loaded.ders, store, at=now, ignore_expiry=ignore)
    out.add("cert-check.txt", verdict_text(result) + "\n", "cert check against the trust store")
    out.add("cert-check.json", _json(result.to_dict()), "cert check (JSON)")


def gather_trust_store(out: Gathered, bundle: Path, crls: tuple[Path, ...], now: datetime) -> None:
    """``trust-store-check.*``: the ALB's upload rules and quotas applied to the bundle."""
    report = check_trust_store(bundle, crls, now=now)
    out.add("trust-store-check.txt", trust_store_text(report) + "\n", "trust-store check")
    out.add("trust-store-check.json", _json(report.to_dict()), "trust-store check (JSON)")


def gather_logs(
    out: Gathered,
    inputs: tuple[str, ...],
    db: Path | None,
    filters: Filters,
    strict: bool,
    max_rows: int,
    openers: Mapping[str, Opener] | None = None,
) -> None:
    """``connection-logs.jsonl``: the selected rows in the ``logs query`` output contract
    (the first ``max_rows``; :func:`gather_diagnosis` says when there were more)."""
    with open_selection(list(inputs), db=db, strict=strict, openers=openers) as selection:
        rows = [export_row(row) for row in selection.iter_rows(filters, limit=max_rows)]
    out.client_ips.update(str(row["client_ip"]) for row in rows if row.get("client_ip"))
    out.log_rows = len(rows)
    lines = [json.dumps(row, default=str) + "\n" for row in rows]
    out.add(
        "connection-logs.jsonl", "".join(lines), "connection-log rows of the slice (JSON lines)"
    )


def gather_diagnosis(
    out: Gathered,
    inputs: tuple[str, ...],
    db: Path | None,
    filters: Filters,
    options: tuple[bool, datetime, Path | None, tuple[Path, ...], bool],
    openers: Mapping[str, Opener] | None = None,
) -> None:
    """``diagnosis.md`` and ``diagnosis.json`` for the same slice, from its prepared tables,
    which also say how many rows the slice holds and every client the diagnosis names."""
    strict, now, trust_store, crls, ignore = options
    correlator = None
    if trust_store is not None or crls:
        correlator = Correlator.from_files(trust_store, crls, None, ignore)
    settings = DiagnoseOptions(now, correlator=correlator)
    scope = Scope.of(filters, now, settings.warn_days)
    with open_target(list(inputs), db=db, strict=strict, scope=scope, openers=openers) as target:
        result = diagnose(target, filters, settings)
        named = target.fetch(
            f"SELECT DISTINCT client_ip FROM {target.prepared.failures} WHERE client_ip IS NOT NULL"
        )
    out.client_ips.update(str(row[0]) for row in named)
    total = result.summary.connections
    if out.log_rows is not None and total > out.log_rows:
        out.warnings.append(f"connection logs: kept the first {out.log_rows} of {total} rows")
    out.add("diagnosis.md", render_markdown(result), "diagnose report (markdown)")
    out.add("diagnosis.json", _json(result.to_dict()), "diagnose report (JSON)")
