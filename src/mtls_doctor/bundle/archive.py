"""``build_support_bundle()``: gather the sections, redact, add a manifest, write the zip.

The archive is written to a temporary file in the target folder (mode 0600 from the start),
flushed to disk and renamed over ``out``, so a reader never sees half an archive and nobody
else can read the client's details meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mtls_doctor import __version__
from mtls_doctor.bundle import collect
from mtls_doctor.bundle.model import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    BundleFile,
    BundleResult,
    BundleSpec,
)
from mtls_doctor.bundle.redact import IpRedactor
from mtls_doctor.errors import InputError
from mtls_doctor.pki.inspect import format_time

README = """mtls-doctor support bundle
==========================

What is in here (manifest.json lists every file with its SHA-256):

  probe.txt / probe.json            the live probe of the endpoint (--url)
  client-chain.pem / .txt           the client certificate chain, certificates only
  cert-check.txt / .json            the client chain checked against the trust store
  trust-store-check.txt / .json     the trust-store bundle checked against the ALB's rules
  connection-logs.jsonl             the connection-log rows of the selected slice
  diagnosis.md / diagnosis.json     the diagnose report for that slice

No private key is ever included. With --redact-ips, client addresses are replaced by
pseudonyms (client-<hex>), the same address by the same pseudonym throughout this bundle.
"""


def _versions() -> dict[str, str]:
    found = {"mtls-doctor": __version__, "python": sys.version.split()[0]}
    for name in ("cryptography", "pyOpenSSL", "duckdb", "click"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    with contextlib.suppress(Exception):
        from OpenSSL import SSL

        found["openssl"] = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    found["platform"] = platform.platform()
    return found


def _gather(spec: BundleSpec) -> collect.Gathered:
    out = collect.Gathered()
    if spec.probe is not None:
        collect.gather_probe(out, spec.probe, spec.now)
    else:
        out.omitted.append(("probe", "no --url given"))
    if spec.cert is not None:
        collect.gather_certificate(out, spec.cert)
        if spec.trust_store is not None:
            collect.gather_cert_check(
                out, spec.cert, spec.trust_store, spec.crls, spec.now, spec.ignore_expiry
            )
    else:
        out.omitted.append(("client certificate", "no --cert given"))
    if spec.trust_store is not None:
        collect.gather_trust_store(out, spec.trust_store, spec.crls, spec.now)
    else:
        out.omitted.append(("trust-store check", "no --trust-store given"))
    if spec.wants_logs:
        collect.gather_logs(
            out,
            spec.log_inputs,
            spec.db,
            spec.filters,
            spec.strict,
            spec.max_log_rows,
            spec.openers,
        )
        options = (spec.strict, spec.now, spec.trust_store, spec.crls, spec.ignore_expiry)
        collect.gather_diagnosis(out, spec.log_inputs, spec.db, spec.filters, options, spec.openers)
    else:
        out.omitted.append(("connection logs and diagnosis", "no PATHS or --db given"))
    return out


def _redactor(spec: BundleSpec, gathered: collect.Gathered) -> IpRedactor | None:
    if not spec.redact_ips:
        return None
    redactor = IpRedactor(spec.redact_key)
    redactor.add(gathered.client_ips)
    if spec.filters.client is not None and spec.filters.client.num_addresses == 1:
        redactor.add([str(spec.filters.client.network_address)])
    return redactor


def _manifest(
    spec: BundleSpec,
    gathered: collect.Gathered,
    files: Sequence[BundleFile],
    redactor: IpRedactor | None,
) -> dict[str, Any]:
    command = [redactor.apply(a) if redactor else a for a in spec.command_line]
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": format_time(spec.now),
        "versions": _versions(),
        "command_line": command,
        "redacted_ips": redactor.count if redactor else None,
        "probe_outcome": gathered.probe_outcome,
        "log_rows": gathered.log_rows,
        "files": [f.to_dict() for f in files],
        "omitted": [{"section": s, "reason": r} for s, r in gathered.omitted],
        "warnings": [redactor.apply(w) if redactor else w for w in gathered.warnings],
    }


def build_support_bundle(spec: BundleSpec) -> BundleResult:
    """Gather everything ``spec`` asks for and write ``spec.out`` atomically (mode 0600).

    Raises:
        InputError / CertificateLoadError: unreadable certificate, bundle or logs, or a
            ``--cert`` file that holds only a private key.
    """
    if "-" in spec.log_inputs:
        raise InputError(
            "the support bundle cannot read logs from stdin",
            hint="Give log files or folders, or --db.",
        )
    gathered = _gather(spec)
    redactor = _redactor(spec, gathered)
    members: list[tuple[str, bytes, str]] = [("README.txt", README.encode(), "what is in here")]
    for section in gathered.sections:
        data = section.data
        if redactor is not None and section.redactable:
            data = redactor.apply(data.decode("utf-8")).encode("utf-8")
        members.append((section.name, data, section.description))
    files = [
        BundleFile(name, len(data), hashlib.sha256(data).hexdigest(), what)
        for name, data, what in members
    ]
    manifest = _manifest(spec, gathered, files, redactor)
    members.append((MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode(), ""))
    write_zip_atomic(spec.out, [(name, data) for name, data, _ in members], spec)
    return BundleResult(
        out=spec.out,
        created_at=spec.now,
        files=tuple(files),
        omitted=tuple(gathered.omitted),
        warnings=tuple(manifest["warnings"]),
        probe_outcome=gathered.probe_outcome,
        log_rows=gathered.log_rows,
        redacted_ips=redactor.count if redactor else 0,
    )


_STOPPING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt meanwhile, as Ctrl-C does, so that the
    cleanup below runs for them too (their default action ends the process on the spot).
    Only the main thread may set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupt) for s in _STOPPING}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def write_zip_atomic(out: Path, members: Sequence[tuple[str, bytes]], spec: BundleSpec) -> None:
    """Write the archive next to ``out`` under a temporary name (0600), then rename it.

    Whatever stops it (an error, Ctrl-C, SIGTERM, SIGHUP) leaves neither the temporary
    file nor a partial ``out``; only SIGKILL, which no process can catch, may leave the
    temporary file (named ``.OUT.*.tmp``, next to ``out``).
    """
    folder = out.parent if str(out.parent) else Path(".")
    with _signals_interrupt():
        _write_zip(folder, out, members, spec)


def _write_zip(
    folder: Path, out: Path, members: Sequence[tuple[str, bytes]], spec: BundleSpec
) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    stamp = spec.now.timetuple()[:6]
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in members:
                    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o600 << 16
                    archive.writestr(info, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
