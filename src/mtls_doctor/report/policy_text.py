"""Security policies as readable text (``policy list``, ``policy show``); nothing prints here."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_doctor.knowledge.policies import PROTOCOLS, SecurityPolicy, cipher_table
from mtls_doctor.knowledge.policy_fit import PolicyDifference
from mtls_doctor.pki.incompatible import LABEL, IncompatibilityHypotheses

_SHORT = {"TLSv1.3": "1.3", "TLSv1.2": "1.2", "TLSv1.1": "1.1", "TLSv1": "1.0"}


def source_label(policy: SecurityPolicy) -> str:
    """``aws`` when verified, else where the unverified parts come from."""
    if policy.protocols_source == policy.ciphers_source:
        return policy.protocols_source
    return f"{policy.protocols_source}/{policy.ciphers_source}"


def _protocols(policy: SecurityPolicy) -> str:
    return " ".join(_SHORT[p] if p in policy.protocols else "   " for p in PROTOCOLS).rstrip()


def policy_table(policies: Sequence[SecurityPolicy]) -> str:
    """One line per policy: protocols, cipher count, flags, and where the row comes from."""
    width = max([len(p.name) for p in policies] + [6])
    lines = [f"{'POLICY':<{width}}  {'TLS':<15}  {'CIPHERS':>7}  FIPS  PQ   SOURCE"]
    for policy in policies:
        count = "?" if policy.ciphers is None else str(len(policy.ciphers))
        family = f" rfc9151-{policy.rfc9151}" if policy.rfc9151 else ""
        lines.append(
            f"{policy.name:<{width}}  {_protocols(policy):<15}  {count:>7}  "
            f"{'yes' if policy.fips else '-':<4}  {'yes' if policy.pq else '-':<3}  "
            f"{source_label(policy)}{family}"
        )
    return "\n".join(lines)


def policy_detail(policy: SecurityPolicy) -> str:
    """Everything the table knows about one policy, ciphers in AWS's priority order."""
    table = cipher_table()
    verified = "yes (AWS)" if policy.verified else "no"
    lines = [
        policy.name,
        f"  protocols:  {', '.join(policy.protocols)}  (source: {policy.protocols_source})",
        f"  FIPS: {'yes' if policy.fips else 'no'}   PQ (ML-KEM): {'yes' if policy.pq else 'no'}"
        + (f"   RFC 9151: {policy.rfc9151}" if policy.rfc9151 else ""),
        f"  verified:   {verified}   source: {policy.source}",
    ]
    if policy.legacy:
        lines.append("  legacy:     AWS says: for legacy compatibility only")
    if policy.note:
        lines.append(f"  note:       {policy.note}")
    if policy.ciphers is None:
        lines.append("  ciphers:    unknown (no source lists them; --live asks AWS)")
        return "\n".join(lines)
    lines.append(f"  ciphers ({len(policy.ciphers)}, source: {policy.ciphers_source}):")
    for cipher in policy.ciphers:
        known = table.get(cipher)
        extra = (
            f"{known.iana:<40} 0x{int(known.code, 16):04x}"
            if known
            else "(not in our cipher table)"
        )
        lines.append(f"    {cipher:<31} {extra}")
    return "\n".join(lines)


def differences_text(differences: Sequence[PolicyDifference]) -> str:
    """The differences between AWS and the snapshot, one per line."""
    if not differences:
        return "AWS and the snapshot agree."
    return "\n".join(
        [f"AWS differs from the snapshot ({len(differences)}):"]
        + [f"  {d.summary()}" for d in differences]
    )


def hypotheses_text(fit: IncompatibilityHypotheses) -> str:
    """The inferred ClientCertIncompatible hypotheses, each with the check that confirms it."""
    head = f"{fit.policy} ({fit.family}); leaf key {fit.leaf_key}, signature {fit.leaf_signature}"
    lines = [f"ClientCertIncompatible hypotheses ({LABEL}):", f"  {head}"]
    if not fit.hypotheses:
        lines.append("  none of our hypotheses fits this certificate under this policy")
    for number, hypothesis in enumerate(fit.hypotheses, 1):
        lines += [
            f"  {number}. [inferred] {hypothesis.title}",
            f"     why:     {hypothesis.why}",
            f"     confirm: {hypothesis.confirm}",
            f"     $ {hypothesis.command}",
        ]
    return "\n".join(lines)
