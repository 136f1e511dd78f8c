"""Pre-flight a trust store: the ALB's upload rules (spec §3.3) and quotas (spec §3.1).

Each rule is one row of :data:`RULES` (code, severity, fix); findings name the line or the
certificate (0-based index in the bundle) they concern. :func:`write_fixed_bundle` writes the
bundle the ALB wants: certificate blocks only, no duplicates, CAs only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.errors import CertificateLoadError
from mtls_doctor.pki import crl as crl_mod
from mtls_doctor.pki import policy
from mtls_doctor.pki.findings import Finding
from mtls_doctor.pki.inspect import CertificateSummary, describe_certificate, format_time
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import LoadedCrl, load_certificates_from_bytes, load_crls
from mtls_doctor.pki.path import CaIndex

# code -> (severity, fix). Our own lint codes, not ALB reason codes (those live in the catalogue).
RULES: dict[str, tuple[str, str]] = {
    "BundleNotPem": ("error", "Convert it: openssl x509 -inform DER -in FILE -out FILE.pem"),
    "BundleOtherBlock": ("error", "Keep only CERTIFICATE blocks; never upload a private key."),
    "BundleTextOutsideBlock": ("error", "Delete text dumps; keep '#' comments and PEM blocks."),
    "BundleCommentHasDash": ("error", "Remove every '-' from comment lines."),
    "BundleBlankLine": ("error", "Delete blank lines (use --fix OUT.pem)."),
    "BundleTooManyCertificates": ("error", "Keep the CAs you need or raise quota L-43FE5A42."),
    "BundleCertificateTooLarge": ("error", "Use a smaller CA certificate (16 KB at most)."),
    "BundleSubjectsTooLarge": ("error", "Trim the bundle or raise quota L-F31E307C."),
    "BundleTypeUnsupported": (
        "error",
        "Reissue the CA with an RSA 2048-8192 or P-256/384/521 "
        "key and a SHA-256/384/512 signature.",
    ),
    "BundleNotCa": (
        "error",
        "Remove it: only CA certificates (basicConstraints CA:TRUE) can anchor a client chain.",
    ),
    "BundleExpired": ("error", "Replace the CA with a renewed one."),
    "BundleNotYetValid": ("warning", "Check the CA's notBefore and the system clock."),
    "BundleExpiringSoon": ("warning", "Renew the CA and upload the new bundle before expiry."),
    "BundleDuplicate": ("warning", "Remove the repeated certificate (use --fix OUT.pem)."),
    "CrlNotPem": ("error", "Convert it: openssl crl -inform DER -in FILE -out FILE.pem"),
    "CrlUnusable": ("error", "Upload a CRL issued and signed by a CA of this bundle."),
    "CrlPastNextUpdate": ("error", "Publish a fresh CRL and add it to the trust store."),
    "CrlTooLarge": ("error", "Split the CRL; each file may be 50 MB at most."),
    "CrlTooMany": ("error", "Merge CRLs or raise quota L-332EE142."),
    "CrlTooManyEntries": ("error", "Prune expired entries or raise quota L-37E1617B."),
    "CrlNegativeSerial": (
        "warning",
        "Reissue those certificates; the ALB cannot revoke negative serials.",
    ),
}

BEGIN_CERT = "-----BEGIN CERTIFICATE-----"
END_CERT = "-----END CERTIFICATE-----"


def _finding(
    code: str, message: str, *, line: int | None = None, cert: int | str | None = None
) -> Finding:
    severity, fix = RULES[code]
    return Finding(code, severity, cert, message, fix, line)


@dataclass(frozen=True)
class TrustStoreReport:
    """What the ALB would say about a bundle and its CRLs, before uploading them."""

    bundle: Path
    certificates: tuple[CertificateSummary, ...]
    crl_sources: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (shape documented in docs/certificates.md)."""
        return {
            "schema_version": 1,
            "bundle": str(self.bundle),
            "ok": self.ok,
            "certificates": [c.to_dict() for c in self.certificates],
            "crls": list(self.crl_sources),
            "findings": [f.to_dict() for f in self.findings],
        }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateLoadError(f"{path}: cannot read: {error.strerror or error}") from None


def lint_lines(data: bytes) -> list[Finding]:
    """The layout rules of spec §3.3, line by line (1-based line numbers)."""
    text = data.decode("utf-8", errors="replace")
    if BEGIN_CERT not in text:
        return [_finding("BundleNotPem", "no PEM certificate block; the ALB accepts PEM only")]
    found: list[Finding] = []
    end = ""  # the END line of the block we are in ("" = outside any block)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            found.append(_finding("BundleBlankLine", "blank line", line=number))
        elif end:
            end = "" if line == end else end  # block contents (maybe a key) are never echoed
        elif line == BEGIN_CERT:
            end = END_CERT
        elif line.startswith("-----BEGIN "):
            end = "-----END " + line[len("-----BEGIN ") :]
            found.append(_finding("BundleOtherBlock", f"a {line[11:-5]} block", line=number))
        elif line.startswith("#"):
            if "-" in line:
                found.append(_finding("BundleCommentHasDash", "comment with '-'", line=number))
        elif not line.startswith("-----END "):
            found.append(_finding("BundleTextOutsideBlock", f"text {line[:40]!r}", line=number))
    return found


def _certificate_findings(
    index: int, cert: x509.Certificate, der: bytes, now: datetime, warn_days: int, limits: AlbLimits
) -> list[Finding]:
    found = []
    subject = f"{index} ({cert.subject.rfc4514_string()})"
    if len(der) > limits.max_certificate_bytes:
        found.append(
            _finding(
                "BundleCertificateTooLarge",
                f"certificate {subject} is "
                f"{len(der)} bytes; the limit is {limits.max_certificate_bytes}",
                cert=index,
            )
        )
    for problem in policy.type_problems(cert, limits):
        found.append(
            _finding("BundleTypeUnsupported", f"certificate {subject} {problem}", cert=index)
        )
    if not policy.is_ca(cert):
        found.append(_finding("BundleNotCa", f"certificate {subject} is not a CA", cert=index))
    not_after = cert.not_valid_after_utc
    if not_after < now:
        found.append(
            _finding(
                "BundleExpired",
                f"certificate {subject} expired at {format_time(not_after)}",
                cert=index,
            )
        )
    elif not_after < now + timedelta(days=warn_days):
        found.append(
            _finding(
                "BundleExpiringSoon",
                f"certificate {subject} expires at {format_time(not_after)}",
                cert=index,
            )
        )
    if cert.not_valid_before_utc > now:
        found.append(
            _finding(
                "BundleNotYetValid",
                f"certificate {subject} is not valid before "
                f"{format_time(cert.not_valid_before_utc)}",
                cert=index,
            )
        )
    return found


def _bundle_findings(
    certs: Sequence[x509.Certificate],
    ders: Sequence[bytes],
    now: datetime,
    warn_days: int,
    limits: AlbLimits,
) -> list[Finding]:
    found: list[Finding] = []
    if len(certs) > limits.max_ca_certificates:
        found.append(
            _finding(
                "BundleTooManyCertificates",
                f"{len(certs)} certificates; the limit is {limits.max_ca_certificates}",
            )
        )
    subjects = sum(len(c.subject.public_bytes()) for c in certs)
    if subjects > limits.max_subject_bytes:
        found.append(
            _finding(
                "BundleSubjectsTooLarge",
                f"subjects total {subjects} bytes; the "
                f"quota is {limits.max_subject_bytes} (unit UNCONFIRMED)",
            )
        )
    for index, der in enumerate(ders):
        if der in ders[:index]:
            first = ders.index(der)
            found.append(
                _finding(
                    "BundleDuplicate",
                    f"certificate {index} repeats certificate {first}",
                    cert=index,
                )
            )
    for index, (cert, der) in enumerate(zip(certs, ders, strict=True)):
        found += _certificate_findings(index, cert, der, now, warn_days, limits)
    return found


def _crl_findings(
    crl_paths: Sequence[Path], cas: CaIndex, now: datetime, limits: AlbLimits
) -> tuple[list[Finding], list[str]]:
    found: list[Finding] = []
    loaded: list[LoadedCrl] = []
    for path in crl_paths:
        size = path.stat().st_size if path.exists() else 0
        if size > limits.max_crl_bytes:
            found.append(
                _finding(
                    "CrlTooLarge",
                    f"{path} is {size} bytes; the limit is {limits.max_crl_bytes}",
                    cert=str(path),
                )
            )
        loaded.extend(load_crls(path).crls)
    if len(loaded) > limits.max_crls:
        found.append(_finding("CrlTooMany", f"{len(loaded)} CRLs; the limit is {limits.max_crls}"))
    entries = sum(len(item.crl) for item in loaded)
    if entries > limits.max_revocation_entries:
        found.append(
            _finding(
                "CrlTooManyEntries",
                f"{entries} revoked entries; the limit is {limits.max_revocation_entries}",
            )
        )
    for status in crl_mod.prepare_crls(loaded, cas):
        found += _one_crl_findings(status, now, limits)
    return found, [item.source for item in loaded]


def _one_crl_findings(status: crl_mod.CrlStatus, now: datetime, limits: AlbLimits) -> list[Finding]:
    found = []
    label = status.label
    if not status.loaded.was_pem:
        found.append(_finding("CrlNotPem", f"{label} is DER; the ALB accepts PEM only", cert=label))
    for problem in status.problems:
        if "DER" not in problem:
            found.append(_finding("CrlUnusable", f"{label}: {problem}", cert=label))
    next_update = status.loaded.crl.next_update_utc
    if next_update is not None and crl_mod.past_next_update(status.loaded.crl, now, limits):
        found.append(
            _finding(
                "CrlPastNextUpdate",
                f"{label} is past its nextUpdate ({format_time(next_update)})",
                cert=label,
            )
        )
    if status.negative_serials:
        found.append(
            _finding(
                "CrlNegativeSerial",
                f"{label} lists {status.negative_serials} negative serial(s)",
                cert=label,
            )
        )
    return found


def check_trust_store(
    bundle: Path,
    crl_paths: Sequence[Path] = (),
    *,
    now: datetime,
    warn_days: int = 30,
    limits: AlbLimits = AlbLimits(),
) -> TrustStoreReport:
    """Lint ``bundle`` and its CRLs against the ALB's rules at time ``now``.

    Raises:
        CertificateLoadError: a file cannot be read or holds no certificate/CRL at all.
    """
    data = _read(bundle)
    findings = lint_lines(data)
    loaded = load_certificates_from_bytes(data, str(bundle))
    certs, ders = loaded.certificates, loaded.ders
    findings += _bundle_findings(certs, ders, now, warn_days, limits)
    crl_found, sources = _crl_findings(crl_paths, CaIndex(certs), now, limits)
    findings += crl_found
    summaries = tuple(
        describe_certificate(c, d, i) for i, (c, d) in enumerate(zip(certs, ders, strict=True))
    )
    order = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: order[f.severity])
    return TrustStoreReport(bundle, summaries, tuple(sources), tuple(findings))


@dataclass(frozen=True)
class FixResult:
    """What :func:`write_fixed_bundle` wrote and why it differs from the input."""

    output: Path
    kept: int
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema_version": 1,
            "output": str(self.output),
            "kept": self.kept,
            "changes": list(self.changes),
        }


def write_fixed_bundle(bundle: Path, output: Path) -> FixResult:
    """Write ``output``: the bundle's CA certificates, once each, as bare PEM blocks.

    Comments, blank lines, text and non-certificate blocks (private keys included) are
    removed; duplicates and non-CA certificates are dropped. The file is written to a
    temporary name first, so a failure never leaves half a bundle behind.
    """
    data = _read(bundle)
    loaded = load_certificates_from_bytes(data, str(bundle))
    changes = [f"line {f.line}: removed ({f.message})" for f in lint_lines(data) if f.line]
    kept: list[bytes] = []
    for index, (cert, der) in enumerate(zip(loaded.certificates, loaded.ders, strict=True)):
        subject = cert.subject.rfc4514_string()
        if der in kept:
            changes.append(f"certificate {index} ({subject}): dropped, a duplicate")
        elif not policy.is_ca(cert):
            changes.append(f"certificate {index} ({subject}): dropped, not a CA")
        else:
            kept.append(der)
    if not kept:
        raise CertificateLoadError(
            f"{bundle}: no CA certificate left to write", hint="The bundle needs CA certificates."
        )
    pem = b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in kept)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(pem)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return FixResult(output, len(kept), tuple(changes))
