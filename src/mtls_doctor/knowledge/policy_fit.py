"""Would a security policy accept a logged handshake? And how does AWS differ from the snapshot?

:func:`evaluate_handshake` is the one place that decides whether a policy refuses a
(``tls_protocol``, ``tls_cipher``) pair; ``policy check`` over logs calls it per distinct pair.

What a logged pair proves: the client offered that protocol and that cipher. It may offer
others too, so "refused" reads "refused unless the client also offers something the policy
has"; a client that negotiated TLSv1.2 on a listener offering TLSv1.3 did not offer 1.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mtls_doctor.knowledge.policies import (
    SecurityPolicy,
    all_policies,
    cipher_table,
    normalize_cipher,
    normalize_protocol,
)

_NOT_TLS = ("", "-")
# [INFERENCE] No FIPS policy in AWS's tables offers ChaCha20 (not FIPS-approved), and the R*
# groups are RSA key transport: enough to refuse some pairs when the full list is unknown.
_CHACHA = "TLS_CHACHA20_POLY1305_SHA256"
_RSA_KX_PREFIXES = ("AES128-", "AES256-")


@dataclass(frozen=True)
class HandshakeFit:
    """The policy's answer for one logged pair: ``refused`` is None when it cannot be told."""

    policy: str
    tls_protocol: str
    tls_cipher: str
    refused: bool | None
    reasons: tuple[str, ...]
    verified: bool  # the policy row comes from AWS (its table or DescribeSSLPolicies)

    def to_dict(self) -> dict[str, Any]:
        """``{"policy", "tls_protocol", "tls_cipher", "refused", "reason", "reasons",
        "verified"}``; ``reason`` joins the reasons with "; " (the log-check column)."""
        return {
            "policy": self.policy,
            "tls_protocol": self.tls_protocol,
            "tls_cipher": self.tls_cipher,
            "refused": self.refused,
            "reason": "; ".join(self.reasons) or None,
            "reasons": list(self.reasons),
            "verified": self.verified,
        }


def _cipher_known_absent(policy: SecurityPolicy, cipher: str) -> bool:
    if policy.fips and cipher == _CHACHA:
        return True
    return policy.rsa_key_exchange is False and cipher.startswith(_RSA_KX_PREFIXES)


def evaluate_handshake(policy: SecurityPolicy, tls_protocol: str, tls_cipher: str) -> HandshakeFit:
    """Would ``policy`` refuse a client that negotiated ``tls_protocol`` with ``tls_cipher``?

    Reasons read "TLSv1.1 not offered" and "cipher AES128-SHA not offered". Protocol and
    cipher spellings of logs, DescribeSSLPolicies, NLB logs and IANA are all understood.
    ``refused`` is None for a non-TLS connection (``-``) and when the policy's cipher list is
    unknown and the protocol alone does not decide.
    """
    raw_protocol, raw_cipher = tls_protocol.strip(), tls_cipher.strip()

    def fit(refused: bool | None, *reasons: str) -> HandshakeFit:
        return HandshakeFit(
            policy.name, raw_protocol, raw_cipher, refused, tuple(reasons), policy.verified
        )

    if raw_protocol in _NOT_TLS:
        return fit(None, "not a TLS connection")
    protocol = normalize_protocol(raw_protocol) or raw_protocol
    cipher = normalize_cipher(raw_cipher) if raw_cipher not in _NOT_TLS else ""
    reasons = []
    if not policy.offers_protocol(protocol):
        reasons.append(f"{protocol} not offered")
    if cipher and policy.ciphers is not None and cipher not in policy.ciphers:
        reasons.append(f"cipher {cipher} not offered")
    elif cipher and policy.ciphers is None and _cipher_known_absent(policy, cipher):
        reasons.append(f"cipher {cipher} not offered (inferred: the policy's list is unknown)")
    if reasons:
        return fit(True, *reasons)
    if not cipher:
        return fit(None, "no cipher logged")
    if policy.ciphers is None:
        return fit(None, f"the cipher list of {policy.name} is unknown; --live reads it")
    return fit(False)


@dataclass(frozen=True)
class PolicyDifference:
    """How AWS's answer for one policy differs from the snapshot."""

    name: str
    kind: str  # "only_live", "only_snapshot" or "changed"
    snapshot_source: str | None  # how the snapshot row was sourced (None when only live)
    protocols_added: tuple[str, ...] = ()
    protocols_removed: tuple[str, ...] = ()
    ciphers_added: tuple[str, ...] = ()
    ciphers_removed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "snapshot_source": self.snapshot_source,
            "protocols_added": list(self.protocols_added),
            "protocols_removed": list(self.protocols_removed),
            "ciphers_added": list(self.ciphers_added),
            "ciphers_removed": list(self.ciphers_removed),
        }

    def summary(self) -> str:
        """One line for people."""
        if self.kind == "only_live":
            return f"{self.name}: returned by AWS, not in the snapshot"
        if self.kind == "only_snapshot":
            return f"{self.name}: in the snapshot ({self.snapshot_source}), not returned by AWS"
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("adds protocols", self.protocols_added),
                ("lacks protocols", self.protocols_removed),
                ("adds ciphers", self.ciphers_added),
                ("lacks ciphers", self.ciphers_removed),
            )
            if values
        ]
        return f"{self.name} (snapshot: {self.snapshot_source}): AWS " + "; ".join(parts)


def _source_of(policy: SecurityPolicy) -> str:
    if policy.protocols_source == policy.ciphers_source:
        return policy.protocols_source
    return f"protocols {policy.protocols_source}, ciphers {policy.ciphers_source}"


def _changed(old: SecurityPolicy, new: SecurityPolicy) -> PolicyDifference | None:
    old_ciphers = old.ciphers or ()
    new_ciphers = new.ciphers or ()
    difference = PolicyDifference(
        name=old.name,
        kind="changed",
        snapshot_source=_source_of(old),
        protocols_added=tuple(p for p in new.protocols if p not in old.protocols),
        protocols_removed=tuple(p for p in old.protocols if p not in new.protocols),
        ciphers_added=tuple(c for c in new_ciphers if c not in old_ciphers),
        ciphers_removed=tuple(c for c in old_ciphers if c not in new_ciphers),
    )
    lists = (
        difference.protocols_added,
        difference.protocols_removed,
        difference.ciphers_added,
        difference.ciphers_removed,
    )
    return difference if any(lists) else None


def compare_with_snapshot(
    live: Sequence[SecurityPolicy], snapshot: Sequence[SecurityPolicy] | None = None
) -> tuple[PolicyDifference, ...]:
    """Every difference between ``live`` (DescribeSSLPolicies) and the snapshot, by name.

    Order: changed policies, then live-only, then snapshot-only, each in table order.
    """
    known = {p.name: p for p in (all_policies() if snapshot is None else snapshot)}
    seen = {p.name for p in live}
    changed = [d for p in live if p.name in known and (d := _changed(known[p.name], p))]
    only_live = [PolicyDifference(p.name, "only_live", None) for p in live if p.name not in known]
    only_snapshot = [
        PolicyDifference(p.name, "only_snapshot", _source_of(p))
        for p in known.values()
        if p.name not in seen
    ]
    return (*changed, *only_live, *only_snapshot)


def unknown_ciphers(policy: SecurityPolicy) -> tuple[str, ...]:
    """Ciphers of ``policy`` that the table has no IANA name for (new suites in live data)."""
    table = cipher_table()
    return tuple(c for c in policy.ciphers or () if c not in table)


# What to try after ``policy``: AWS's recommended policy of the family (POL-CUR: the console
# default Res-PQ, or a FIPS one), then its TLS 1.3-only sibling. The FIPS-PQ names are
# unverified (spec §1.2), so the FIPS steps stay on the verified -FIPS-2023-04 policies.
_STRICTER = {
    False: ("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09"),
    True: (
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    ),
}
LEGACY_PROTOCOLS = ("TLSv1.1", "TLSv1")


def legacy_protocols(policy: SecurityPolicy) -> tuple[str, ...]:
    """The protocols before TLS 1.2 that ``policy`` offers (``TLSv1.1``, ``TLSv1``)."""
    return tuple(p for p in LEGACY_PROTOCOLS if p in policy.protocols)


def stricter_policy(policy: SecurityPolicy) -> SecurityPolicy | None:
    """A stricter policy of the same family (FIPS or not) to check the logs against, or
    None when ``policy`` is already the strictest we suggest."""
    from mtls_doctor.knowledge.policies import get_policy

    steps = _STRICTER[policy.fips]
    if policy.name == steps[-1] or (policy.tls13_only and policy.name != steps[0]):
        return None
    if policy.name == steps[0]:
        return get_policy(steps[1])
    return get_policy(steps[0])
