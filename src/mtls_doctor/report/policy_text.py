"""Security policies as text (``policy list``, ``show``, ``check``); nothing prints here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mtls_doctor.diagnose.tls import ClientHandshake, PolicyCheck, PolicyComparison
from mtls_doctor.knowledge.policies import PROTOCOLS, SecurityPolicy, cipher_table
from mtls_doctor.knowledge.policy_fit import PolicyDifference
from mtls_doctor.pki.incompatible import LABEL, IncompatibilityHypotheses
from mtls_doctor.timeutil import iso_z

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


def _when(value: datetime | None) -> str:
    return iso_z(value) or "-"


def _client_lines(clients: Sequence[ClientHandshake], limit: int) -> list[str]:
    if not clients:
        return []
    width = max(len(c.client_ip) for c in clients[:limit])
    lines = [
        f"  {'CLIENT':<{width}}  {'PROTOCOL':<8}  {'CIPHER':<31}  {'CONNS':>7}  "
        f"{'LAST SEEN':<20}  REASON"
    ]
    for c in clients[:limit]:
        lines.append(
            f"  {c.client_ip:<{width}}  {c.tls_protocol:<8}  {c.tls_cipher or '-':<31}  "
            f"{c.connections:>7}  {_when(c.last_seen):<20}  {c.reason or '-'}"
        )
    if len(clients) > limit:
        lines.append(f"  ... and {len(clients) - limit} more (--format json lists them all)")
    return lines


def _verdict(refused: bool | None) -> str:
    return {True: "REFUSED", False: "ok", None: "can't tell"}[refused]


def check_text(check: PolicyCheck, limit: int = 50) -> str:
    """``policy check``: the refused clients, then every (protocol, cipher) with its answer."""
    head = (
        f"{check.policy.name}: {check.refused_connections} of {check.connections} TLS "
        f"connection(s) would be refused ({check.refused_clients} client(s))"
    )
    lines = [head]
    if check.undecided_connections:
        lines.append(
            f"  {check.undecided_connections} connection(s) cannot be judged: "
            "the policy's cipher list is unknown, or no cipher was logged"
        )
    if not check.policy.verified:
        lines.append("  note: this policy's row is not verified against AWS's table (--live)")
    if check.clients:
        lines += ["", "Clients the policy would refuse (most connections first):"]
        lines += _client_lines(check.clients, limit)
    lines += ["", "By protocol and cipher:"]
    lines.append(f"  {'PROTOCOL':<8}  {'CIPHER':<31}  {'CONNS':>7}  {'CLIENTS':>7}  VERDICT")
    for g in check.handshakes:
        reason = f"  ({g.reason})" if g.reason and g.refused is not False else ""
        lines.append(
            f"  {g.tls_protocol:<8}  {g.tls_cipher or '-':<31}  {g.connections:>7}  "
            f"{g.clients:>7}  {_verdict(g.refused)}{reason}"
        )
    lines.append(_CAVEAT)
    return "\n".join(lines)


_CAVEAT = (
    "\nA logged handshake shows what the client negotiated, not all it offers: "
    "'refused' means refused unless it also offers something the policy has."
)


def compare_text(comparison: PolicyComparison, limit: int = 50) -> str:
    """``policy check --compare OLD NEW``: the newly refused clients, and those freed."""
    old, new = comparison.old.policy.name, comparison.new.policy.name
    data = comparison.to_dict()
    lines = [
        f"{old} -> {new}, over {comparison.new.connections} TLS connection(s):",
        f"  newly refused:     {data['newly_refused_connections']} connection(s), "
        f"{len({c.client_ip for c in comparison.newly_refused})} client(s)",
        f"  no longer refused: {data['no_longer_refused_connections']} connection(s), "
        f"{len({c.client_ip for c in comparison.no_longer_refused})} client(s)",
        f"  still refused:     {data['still_refused_connections']} connection(s)",
    ]
    if comparison.newly_refused:
        lines += ["", f"Newly refused under {new}:"]
        lines += _client_lines(comparison.newly_refused, limit)
    if comparison.no_longer_refused:
        lines += ["", f"No longer refused (were refused under {old}):"]
        lines += _client_lines(comparison.no_longer_refused, limit)
    lines.append(_CAVEAT)
    return "\n".join(lines)
