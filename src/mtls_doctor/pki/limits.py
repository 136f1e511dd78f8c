"""The ALB's limits and every assumption the certificate engine makes: the one table.

Facts come from spec §3.1 (quotas) and §3.2 (certificate requirements). Where the spec marks a
point UNCONFIRMED, the field below says which choice we made and the comment says why; each
such field is also listed in :data:`ASSUMPTIONS` (shown by ``docs/certificates.md`` and checked
by a test), and every field can be changed with ``--limit NAME=VALUE`` on the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from mtls_doctor.errors import UsageError

# The verdict is the first error in the order an OpenSSL-family verifier meets it, the
# likeliest engine behind the ALB [INFERENCE] (check_order="openssl", OpenSSL 3.0's
# X509_verify_cert): the ALB's own checks of the TLS message first (size, depth, parse,
# type, in the order of PRECEDENCE), then
#   1. path building (no issuer, a root not in the trust store)       -> Untrusted
#   2. extensions, leaf first: CA flag, purpose, pathLen              -> Untrusted / Purpose
#   3. revocation, leaf first: the CRL's own problems, then the serial -> CrlProcessingError
#                                                                         / CrlHit
#   4. signatures and validity times, from the anchor down to the leaf -> Untrusted /
#                                                                         NotYetValid / Expired
# So signatures are checked last, with the times: a chain with a bad signature and a revoked
# leaf is logged as revoked, and an expired root hides a bad signature below it. The order
# is UNCONFIRMED for the ALB (spec §2.1 gives none). check_order="precedence" instead takes
# the first code of PRECEDENCE that has an error, whatever the certificate.
PRECEDENCE: tuple[str, ...] = (
    "ClientCertMaxSizeExceeded",
    "ClientCertMaxChainDepthExceeded",
    "ClientCertInvalid",
    "ClientCertTypeUnsupported",
    "ClientCertUntrusted",
    "ClientCertPurposeInvalid",
    "ClientCertCrlHit",
    "ClientCertCrlProcessingError",
    "ClientCertNotYetValid",
    "ClientCertExpired",
)
# The checks of the TLS message that no X.509 verifier makes; they come first in both orders.
ALB_CHECKS: tuple[str, ...] = PRECEDENCE[:4]
CHECK_ORDERS: tuple[str, ...] = ("openssl", "precedence")
CRL_SELECTIONS: tuple[str, ...] = ("newest", "all")

DEPTH_MODES: tuple[str, ...] = ("path_with_anchor", "path_without_anchor", "presented")

# Serial numbers are written as upper-case hex padded to whole bytes ("03A5B1"). UNCONFIRMED
# (spec §1.7): the log example "FEF257372D5C14D4" and the header example "03A5B1" both fit.
SERIAL_BYTE_PADDED = True


@dataclass(frozen=True)
class AlbLimits:
    """ALB quotas and the engine's documented assumptions (defaults = our best reading)."""

    # --- quotas [AWS, spec §3.1] ---
    max_chain_depth: int = 4
    # UNCONFIRMED (spec §2.1, §10 q7): whether the depth counts the leaf and the trust anchor.
    # "path_with_anchor" counts every certificate on the validated path (leaf .. root), the
    # strictest reading; "presented" counts what the client sent.
    chain_depth_counts: str = "path_with_anchor"
    # UNCONFIRMED (spec §3.1): the quota is named "CA certificate size"; we apply it to every
    # certificate the client sends too, as the likeliest trigger of ClientCertMaxSizeExceeded.
    max_certificate_bytes: int = 16 * 1024
    max_tls_message_bytes: int = 64 * 1024
    max_ca_certificates: int = 25
    # UNCONFIRMED (spec §3.1): unit not stated; we count bytes of the DER-encoded subjects.
    max_subject_bytes: int = 10_000
    max_crls: int = 30
    max_crl_bytes: int = 50 * 1024 * 1024
    max_revocation_entries: int = 500_000
    # --- key and signature rules [AWS, spec §3.2]; inclusive bounds are UNCONFIRMED ---
    min_rsa_bits: int = 2048
    max_rsa_bits: int = 8192
    # --- assumptions (all UNCONFIRMED) ---
    # spec §3.5: whether the ALB checks nextUpdate. We assume it does (OpenSSL does).
    crl_check_next_update: bool = True
    # spec §3.5: whether intermediates are checked against CRLs. We check every certificate
    # of the path that has a CRL of its issuer, the anchor too (OpenSSL's crl_check_all; for
    # a self-signed anchor that is its own CRL). A certificate without one is not an error:
    # unlike crl_check_all, the ALB does not demand a CRL from every CA.
    crl_check_intermediates: bool = True
    # spec §3.5: which of several CRLs of one issuer counts. "newest": OpenSSL's choice, the
    # newest (lastUpdate) of those valid at the check time, else the newest of all; only it
    # is checked. "all": every one must be usable and any may revoke.
    crl_selection: str = "newest"
    # spec §3.5: a CRL at exactly its nextUpdate. OpenSSL: expired (X509_cmp_time maps
    # "equal" to "before"). true = still usable, RFC 5280's reading.
    crl_next_update_inclusive: bool = False
    # spec §3.5: whether a CRL must be signed by a CA of the bundle. OpenSSL checks it with
    # the issuer on the path, which may be a CA the client sent; so do we by default.
    crl_issuer_in_bundle: bool = False
    # A certificate at exactly its notAfter. OpenSSL: expired; RFC 5280 §4.1.2.5: still
    # valid (the bound is inclusive). Times are compared in whole seconds, as OpenSSL does.
    not_after_inclusive: bool = False
    # A v3 self-signed anchor with keyUsage keyCertSign but no basicConstraints. OpenSSL 3.0
    # accepts it at the top of the path (X509_check_ca returns 4) unless x509_strict; an
    # intermediate without basicConstraints is refused either way.
    root_without_basic_constraints: bool = True
    # Several candidate issuers with one name and no key identifiers to tell them apart:
    # OpenSSL takes the first valid one and may then fail its signature. true = prefer the
    # one whose key verifies the signature (more robust than any ALB is known to be).
    issuer_by_signature: bool = False
    # See the comment above PRECEDENCE.
    check_order: str = "openssl"
    # spec §3.7: IgnoreClientCertificateExpiry says "expired"; we read it literally, so
    # NotYetValid is still an error, and it covers the whole chain (the verifier's callback
    # sees the same "expired" error for every certificate).
    ignore_expiry_covers_not_yet_valid: bool = False
    ignore_expiry_covers_chain: bool = True
    # Whether a path may end at a non-self-signed CA of the bundle (OpenSSL's partial_chain).
    # Off by default, as in OpenSSL; the spec only says the bundle may hold intermediates.
    partial_chain: bool = False
    # spec §10 q9: which purpose checks run. We do what OpenSSL's "sslclient" purpose does:
    # leaf keyUsage (if present) needs digitalSignature or keyAgreement, and a CA's EKU (if
    # present) must allow clientAuth.
    check_leaf_key_usage: bool = True
    check_ca_extended_key_usage: bool = True
    # No code is documented for "no client certificate". A verify-mode listener needs one;
    # we predict the code an OpenSSL-family verifier gives when it has nothing to chain.
    empty_chain_code: str = "ClientCertUntrusted"
    precedence: tuple[str, ...] = PRECEDENCE

    def __post_init__(self) -> None:
        for name, allowed in (
            ("chain_depth_counts", DEPTH_MODES),
            ("check_order", CHECK_ORDERS),
            ("crl_selection", CRL_SELECTIONS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise UsageError(f"{name}={value!r} is not one of " + ", ".join(allowed))

    def with_overrides(self, values: Mapping[str, str]) -> AlbLimits:
        """Return a copy with ``NAME=VALUE`` strings applied (the CLI's ``--limit``).

        Raises:
            UsageError: an unknown name or a value of the wrong type.
        """
        fields = {f.name: f for f in dataclasses.fields(self) if f.name != "precedence"}
        changes: dict[str, object] = {}
        for name, raw in values.items():
            if name not in fields:
                raise UsageError(
                    f"unknown limit {name!r}", hint="Known: " + ", ".join(sorted(fields))
                )
            changes[name] = _convert(name, raw, type(getattr(self, name)))
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """Every field, for JSON output (so a report says which assumptions produced it)."""
        data: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["precedence"] = list(self.precedence)
        return data


def _convert(name: str, raw: str, kind: type) -> object:
    text = raw.strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"limit {name} needs true or false, not {raw!r}")
    if kind is int:
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise UsageError(f"limit {name} needs a whole number, not {raw!r}") from None
    return text


@dataclass(frozen=True)
class Assumption:
    """One UNCONFIRMED point the engine relies on, with the setting that changes it."""

    setting: str
    spec: str
    choice: str


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "check_order",
        "§2.1",
        "OpenSSL order: size, depth, parse, type, path, extensions, CRLs, signatures+times",
    ),
    Assumption("precedence", "§2.1", "only with check_order=precedence: a fixed code order"),
    Assumption("chain_depth_counts", "§2.1, §10 q7", "leaf, intermediates and anchor count"),
    Assumption("max_certificate_bytes", "§3.1", "16 KB applies to client certificates too"),
    Assumption("max_subject_bytes", "§3.1", "bytes of DER-encoded subject names"),
    Assumption("min_rsa_bits", "§3.2", "2048 and 8192 are both allowed (inclusive)"),
    Assumption("not_after_inclusive", "§3.2", "no: expired at notAfter itself (OpenSSL)"),
    Assumption(
        "root_without_basic_constraints",
        "§3.2, §10 q9",
        "a v3 anchor with keyCertSign and no basicConstraints is accepted (OpenSSL 3.0)",
    ),
    Assumption(
        "issuer_by_signature",
        "§3.2",
        "no: of same-named issuers the first valid one is taken (OpenSSL)",
    ),
    Assumption("crl_check_next_update", "§3.5", "a CRL past nextUpdate cannot be used"),
    Assumption("crl_next_update_inclusive", "§3.5", "no: a CRL at nextUpdate is expired (OpenSSL)"),
    Assumption("crl_check_intermediates", "§3.5", "intermediates are checked against CRLs"),
    Assumption(
        "crl_selection", "§3.5", "newest: only an issuer's newest timely CRL counts (OpenSSL)"
    ),
    Assumption("crl_issuer_in_bundle", "§3.5", "no: the issuer on the path signs (OpenSSL)"),
    Assumption("ignore_expiry_covers_not_yet_valid", "§3.7", "no: only expiry is waived"),
    Assumption("ignore_expiry_covers_chain", "§3.7", "yes: intermediates too"),
    Assumption("partial_chain", "§3.2", "a path must end at a self-signed bundle CA"),
    Assumption("check_leaf_key_usage", "§10 q9", "leaf keyUsage must allow signing"),
    Assumption("check_ca_extended_key_usage", "§10 q9", "a CA's EKU must allow clientAuth"),
    Assumption("empty_chain_code", "§2", "no certificate is reported as ClientCertUntrusted"),
    Assumption("SERIAL_BYTE_PADDED", "§1.7", "serials are hex padded to whole bytes"),
)
