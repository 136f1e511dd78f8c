"""Plain-text renderings of the certificate results (the CLI echoes them; nothing prints here)."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_doctor.pki.bundle import FixResult, TrustStoreReport
from mtls_doctor.pki.findings import Finding
from mtls_doctor.pki.inspect import CertificateSummary, format_time
from mtls_doctor.pki.logmatch import LogComparison
from mtls_doctor.pki.verdict import ChainVerdict


def summary_text(cert: CertificateSummary, total: int) -> str:
    """One certificate as an indented block."""
    if cert.signed_by is None:
        signer = "issuer not in this file"
    elif cert.signed_by == cert.index:
        signer = "self-signed"
    else:
        signer = f"signed by [{cert.signed_by}]"
    role = "leaf" if cert.index == 0 and total > 1 else ("" if total == 1 else "chain")
    key = f"{cert.key_type} {cert.key_bits or '?'}" + (f" ({cert.curve})" if cert.curve else "")
    bc = cert.basic_constraints
    lines = [
        f"[{cert.index}] {cert.subject}  ({role + ', ' if role else ''}{signer})",
        f"    issuer:      {cert.issuer}",
        f"    serial:      {cert.serial}",
        f"    version:     v{cert.version}",
        f"    validity:    {format_time(cert.not_before)} .. {format_time(cert.not_after)}",
        f"    key:         {key}",
        f"    signature:   {cert.signature_algorithm}"
        + (f" ({cert.signature_hash})" if cert.signature_hash else ""),
        "    basicConstraints: "
        + ("absent" if bc is None else f"CA={bc['ca']} pathLen={bc['path_length']}"),
        f"    keyUsage:    {', '.join(cert.key_usage) or '-'}",
        f"    extKeyUsage: {', '.join(cert.extended_key_usage) or '-'}",
        f"    SANs:        {', '.join(cert.subject_alternative_names) or '-'}",
        f"    DER size:    {cert.der_size} bytes",
        f"    SHA-256:     {cert.sha256}",
    ]
    lines += [f"    extension error: {e}" for e in cert.extension_errors]
    return "\n".join(lines)


def inspect_text(groups: Sequence[tuple[str, Sequence[CertificateSummary]]]) -> str:
    """Every file's certificates, file by file."""
    blocks = []
    for name, certs in groups:
        blocks.append(f"{name}: {len(certs)} certificate(s)")
        blocks += [summary_text(c, len(certs)) for c in certs]
    return "\n".join(blocks)


def finding_text(finding: Finding) -> str:
    """One finding on one line, with its fix below it."""
    where = f" line {finding.line}" if finding.line else ""
    text = f"  {finding.severity:<7} {finding.code}{where}: {finding.message}"
    return text + (f"\n          fix: {finding.fix}" if finding.fix else "")


def verdict_text(result: ChainVerdict, comparison: LogComparison | None = None) -> str:
    """The verdict, the findings, the validated path."""
    lines = [f"verdict: {result.verdict}  (at {format_time(result.at)})"]
    if result.path:
        lines.append("path: " + " -> ".join(link.to_dict()["subject"] for link in result.path))
    lines += [finding_text(f) for f in result.findings] or ["  no findings"]
    if comparison is not None:
        word = "matches" if comparison.matches else "does NOT match"
        lines.append(f"log line: {comparison.logged.status}; the prediction {word}")
        lines += [f"  note: {n}" for n in comparison.notes]
    return "\n".join(lines)


def trust_store_text(report: TrustStoreReport, fix: FixResult | None = None) -> str:
    """The bundle's certificates in one line each, then the findings."""
    lines = [
        f"{report.bundle}: {len(report.certificates)} certificate(s), "
        f"{len(report.crl_sources)} CRL(s): {'OK' if report.ok else 'problems found'}"
    ]
    lines += [
        f"  [{c.index}] {c.subject}  (until {format_time(c.not_after)})"
        for c in report.certificates
    ]
    lines += [finding_text(f) for f in report.findings]
    if fix is not None:
        lines.append(f"wrote {fix.output} ({fix.kept} certificate(s)):")
        lines += [f"  {change}" for change in fix.changes]
    return "\n".join(lines)
