"""Why might the ALB log ``ClientCertIncompatible`` for this certificate under this policy?

AWS documents the code only as "Client certificate is incompatible with the chosen listener
security policy" (spec §1.6). Everything here is **inferred** (spec §1.6 hypotheses, ranked,
UNCONFIRMED): each hypothesis says why it fits this leaf and this policy, and which check
would confirm it. ``cert check --policy`` and the ``explain`` entry show them, labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from mtls_doctor.knowledge.policies import SecurityPolicy
from mtls_doctor.pki.inspect import key_description, signature_description

LABEL = "inferred, not documented by AWS: hypotheses to confirm, not findings"
# Every hypothesis this module can raise; the explain entry for ClientCertIncompatible names
# each (a test keeps the two in step).
HYPOTHESIS_IDS: tuple[str, ...] = (
    "rfc9151-key",
    "rfc9151-signature",
    "fips-rsa-size",
    "tls13-rsa-pss",
    "curve-p521",
)
_CONTROL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_FIPS_RSA_BITS = (2048, 3072, 4096)


@dataclass(frozen=True)
class Hypothesis:
    """One inferred reason, why it fits, and the check that would confirm it."""

    id: str
    title: str
    why: str
    confirm: str
    command: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``inferred`` is always true."""
        return {
            "id": self.id,
            "inferred": True,
            "title": self.title,
            "why": self.why,
            "confirm": self.confirm,
            "command": self.command,
        }


@dataclass(frozen=True)
class IncompatibilityHypotheses:
    """The hypotheses that fit one leaf under one policy (empty: none of ours fits)."""

    policy: str
    family: str
    leaf_key: str
    leaf_signature: str
    hypotheses: tuple[Hypothesis, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``schema_version`` 1)."""
        return {
            "schema_version": 1,
            "policy": self.policy,
            "family": self.family,
            "inferred": True,
            "label": LABEL,
            "leaf_key": self.leaf_key,
            "leaf_signature": self.leaf_signature,
            "hypotheses": [h.to_dict() for h in self.hypotheses],
        }


def _control_check(what: str) -> str:
    return (
        f"Connect the same client to a listener on {_CONTROL_POLICY} with the same trust "
        f"store: success there and ClientCertIncompatible here confirms the policy; then retry "
        f"with {what}."
    )


def _rfc9151(
    policy: SecurityPolicy, kind: str, bits: int | None, curve: str | None
) -> list[Hypothesis]:
    if not policy.rfc9151:
        return []
    interop = (
        " Interop policies are said to admit non-conforming clients too [third party], which "
        "makes this less likely."
        if policy.rfc9151 == "interop"
        else ""
    )
    found = []
    if not (curve == "secp384r1" or (kind == "RSA" and (bits or 0) >= 3072)):
        shown = f"{kind} {curve or bits}"
        found.append(
            Hypothesis(
                "rfc9151-key",
                "Leaf key outside the RFC 9151 (CNSA 1.0) profile",
                f"The leaf has a {shown} key; RFC 9151 policies are taken to want ECDSA P-384 "
                f"or RSA of 3072 bits or more (from memory of RFC 9151, UNCONFIRMED).{interop}",
                _control_check("a test certificate on an ECDSA P-384 key"),
                "mtls-doctor pki issue --ca CA.pem --out ./p384 --key ec384",
            )
        )
    return found


def _rfc9151_signature(policy: SecurityPolicy, digest: str | None, name: str) -> list[Hypothesis]:
    if not policy.rfc9151 or digest == "sha384":
        return []
    return [
        Hypothesis(
            "rfc9151-signature",
            "Leaf signature hash outside the RFC 9151 (CNSA 1.0) profile",
            f"The leaf is signed with {name} ({digest or 'unknown hash'}); CNSA 1.0 wants "
            "SHA-384 (from memory of RFC 9151, UNCONFIRMED).",
            _control_check("a certificate the CA signs with SHA-384"),
            "openssl x509 -in CHAIN.pem -noout -text | grep 'Signature Algorithm'",
        )
    ]


def _fips(policy: SecurityPolicy, kind: str, bits: int | None) -> list[Hypothesis]:
    if not policy.fips or kind != "RSA" or bits in _FIPS_RSA_BITS:
        return []
    return [
        Hypothesis(
            "fips-rsa-size",
            "RSA key size a FIPS module may not accept",
            f"The leaf has an RSA {bits}-bit key; FIPS-validated modules (AWS-LC FIPS behind "
            "FIPS policies) commonly accept only 2048, 3072 and 4096 bits [INFERENCE].",
            _control_check("a test certificate on an RSA 3072 key"),
            "mtls-doctor pki issue --ca CA.pem --out ./rsa3072 --key rsa3072",
        )
    ]


def _tls13_pss(policy: SecurityPolicy, kind: str) -> list[Hypothesis]:
    # Only TLS 1.3-only policies (spec §1.6 #2): where TLS 1.2 is offered too, a client
    # lacking PSS fails the same way under the control policy, so the policy is not the cause.
    if kind != "RSA" or not policy.tls13_only:
        return []
    return [
        Hypothesis(
            "tls13-rsa-pss",
            "Client cannot sign TLS 1.3's CertificateVerify with RSA-PSS",
            "The leaf has an RSA key and the policy offers TLS 1.3 only: TLS 1.3 allows only "
            "RSA-PSS there, which keys in some smart cards, TPMs and HSMs cannot make "
            "[INFERENCE].",
            "Connect with the same key forcing PSS; if that works but the client's own stack "
            "fails, or the client succeeds over TLS 1.2 on a policy that offers it, the stack "
            "lacks PSS.",
            "openssl s_client -connect HOST:443 -tls1_3 -cert CHAIN.pem -key KEY.pem "
            "-sigalgs rsa_pss_rsae_sha256:rsa_pss_rsae_sha384",
        )
    ]


def _curve(policy: SecurityPolicy, curve: str | None) -> list[Hypothesis]:
    if curve != "secp521r1" or policy.family == "standard":
        return []
    return [
        Hypothesis(
            "curve-p521",
            "ECDSA P-521 leaf under a restricted policy",
            f"The leaf is on P-521; a {policy.family} policy may leave ecdsa_secp521r1_sha512 "
            "out of its signature schemes [INFERENCE].",
            _control_check("a test certificate on an ECDSA P-384 key"),
            "mtls-doctor pki issue --ca CA.pem --out ./p384 --key ec384",
        )
    ]


def incompatibility_hypotheses(
    leaf: x509.Certificate, policy: SecurityPolicy
) -> IncompatibilityHypotheses:
    """The inferred reasons ``policy`` could refuse ``leaf`` with ClientCertIncompatible."""
    kind, bits, curve = key_description(leaf)
    name, digest = signature_description(leaf)
    found = (
        _rfc9151(policy, kind, bits, curve)
        + _rfc9151_signature(policy, digest, name)
        + _fips(policy, kind, bits)
        + _tls13_pss(policy, kind)
        + _curve(policy, curve)
    )
    return IncompatibilityHypotheses(
        policy=policy.name,
        family=policy.family,
        leaf_key=f"{kind} {curve or bits}",
        leaf_signature=f"{name} ({digest})" if digest else name,
        hypotheses=tuple(found),
    )
