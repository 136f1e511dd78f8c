"""Build a path from the leaf to a trust-store CA in the order OpenSSL 3.0 does.

``build_chain`` in OpenSSL's ``x509_vfy.c``, with its defaults (trusted first, no partial
chains), for one top certificate at a time:

1. look for its issuer in the trust store; if one is found it goes on the path and from
   then on **only** the trust store is searched: no certificate the client sent can go
   above a trust-store CA;
2. otherwise look among the certificates the client sent (each used once);
3. stop at a self-signed trust-store certificate (the anchor), or when nothing is found.

An issuer is chosen by name (:mod:`~mtls_doctor.pki.names`), authority key identifier and
key type, never by signature (:func:`~mtls_doctor.pki.signing.likely_issued`); of several,
the first that is valid at the check time wins, else the one that expires last. Signatures,
CA flags and the rest are checked afterwards, on the path (see verdict.py).

Where OpenSSL is needlessly fragile (two trust-store CAs with one name and no key
identifiers: it may take the wrong one and then fail its signature), the setting
``issuer_by_signature`` prefers a candidate whose key verifies the signature. It is off by
default, as an OpenSSL-family ALB has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.names import name_key
from mtls_doctor.pki.signing import likely_issued, self_signed, signature_valid

_MAX_SEARCH_DEPTH = 12  # far above any real chain; stops loops between cross-signed CAs


@dataclass(frozen=True)
class PathLink:
    """One certificate on a validated path: where it came from and its index there."""

    source: str  # "chain" (sent by the client) or "trust_store"
    index: int
    certificate: x509.Certificate = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "index": self.index,
            "subject": self.certificate.subject.rfc4514_string(),
        }


@dataclass(frozen=True)
class CaIndex:
    """Trust-store CAs indexed by canonical subject and by encoding, built once."""

    certificates: tuple[x509.Certificate, ...]
    by_subject: dict[bytes, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    by_der: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_subject: dict[bytes, list[int]] = {}
        by_der: dict[bytes, int] = {}
        for index, cert in enumerate(self.certificates):
            by_subject.setdefault(name_key(cert.subject), []).append(index)
            by_der.setdefault(cert.public_bytes(Encoding.DER), index)
        object.__setattr__(self, "by_subject", {k: tuple(v) for k, v in by_subject.items()})
        object.__setattr__(self, "by_der", by_der)


@dataclass(frozen=True)
class PathResult:
    """The path (leaf first, anchor last) or, when none was found, the path as far as it
    got (``partial``) and why it ends there (``dead_ends``)."""

    links: tuple[PathLink, ...] | None
    dead_ends: tuple[str, ...]
    partial: tuple[PathLink, ...] = ()


def label(link: PathLink) -> str:
    """How messages name a certificate of the path."""
    where = "certificate" if link.source == "chain" else "trust-store CA"
    return f"{where} {link.index} ({link.certificate.subject.rfc4514_string()})"


def valid_at(cert: x509.Certificate, at: datetime, limits: AlbLimits) -> bool:
    """Inside notBefore..notAfter at ``at`` (whole seconds; the notAfter edge per limits)."""
    if cert.not_valid_before_utc > at:
        return False
    after = cert.not_valid_after_utc
    return after >= at if limits.not_after_inclusive else after > at


def _choose(
    child: x509.Certificate, options: list[PathLink], at: datetime, limits: AlbLimits
) -> PathLink | None:
    """OpenSSL's pick: the first valid at ``at``, else the one that expires last."""
    if limits.issuer_by_signature:
        verified = [o for o in options if signature_valid(child, o.certificate)]
        options = verified or options
    best: PathLink | None = None
    for option in options:
        if valid_at(option.certificate, at, limits):
            return option
        after = option.certificate.not_valid_after_utc
        if best is None or after > best.certificate.not_valid_after_utc:
            best = option
    return best


class _Builder:
    def __init__(
        self,
        chain: Sequence[x509.Certificate | None],
        cas: CaIndex,
        at: datetime,
        limits: AlbLimits,
    ) -> None:
        self.cas = cas
        self.at = at
        self.limits = limits
        self.untrusted = [PathLink("chain", i, c) for i, c in enumerate(chain) if i and c]

    def trusted_issuer(self, child: x509.Certificate) -> PathLink | None:
        options = [
            PathLink("trust_store", i, self.cas.certificates[i])
            for i in self.cas.by_subject.get(name_key(child.issuer), ())
        ]
        options = [o for o in options if likely_issued(o.certificate, child)]
        return _choose(child, options, self.at, self.limits)

    def untrusted_issuer(self, path: list[PathLink]) -> PathLink | None:
        child = path[-1].certificate
        on_path = {p.certificate.public_bytes(Encoding.DER) for p in path}
        options = [
            o
            for o in self.untrusted
            if likely_issued(o.certificate, child)
            and o.certificate.public_bytes(Encoding.DER) not in on_path
        ]
        return _choose(child, options, self.at, self.limits)

    def anchored(self, link: PathLink) -> bool:
        if link.source != "trust_store":
            return False
        return self.limits.partial_chain or self_signed(link.certificate)

    def build(self, leaf: x509.Certificate) -> list[PathLink]:
        path = [PathLink("chain", 0, leaf)]
        if self.limits.partial_chain and leaf.public_bytes(Encoding.DER) in self.cas.by_der:
            return [PathLink("trust_store", self.cas.by_der[leaf.public_bytes(Encoding.DER)], leaf)]
        search_untrusted = True
        while len(path) < _MAX_SEARCH_DEPTH:
            top = path[-1]
            issuer = self.trusted_issuer(top.certificate)
            if issuer is not None:
                if self_signed(top.certificate):
                    path[-1] = issuer  # a self-signed certificate is replaced by its twin
                else:
                    path.append(issuer)
                search_untrusted = False
                if self.anchored(path[-1]) or self_signed(path[-1].certificate):
                    break
                continue
            if not search_untrusted or self_signed(top.certificate):
                break
            found = self.untrusted_issuer(path)
            if found is None:
                break
            self.untrusted.remove(found)
            path.append(found)
        return path


def _dead_end(path: list[PathLink], sent: Sequence[x509.Certificate | None]) -> str:
    """Why ``path`` ends without an anchor, in OpenSSL's terms (its error says the same)."""
    top = path[-1]
    cert = top.certificate
    if self_signed(cert):
        if len(path) == 1:
            return f"{label(top)} is self-signed and not in the trust store"
        return f"{label(top)} is a self-signed root that is not in the trust store"
    issuer = cert.issuer.rfc4514_string()
    if top.source == "trust_store":
        text = f"{label(top)} is not self-signed and its issuer {issuer} is not in the trust store"
        key = name_key(cert.issuer)
        sent_issuers = [
            i for i, c in enumerate(sent) if i and c is not None and name_key(c.subject) == key
        ]
        if sent_issuers:
            text += (
                f"; the client sent it (certificate {sent_issuers[0]}), but an OpenSSL-family "
                "verifier uses no client certificate above a trust-store CA: add "
                f"{issuer} to the trust store, or remove {top.certificate.subject.rfc4514_string()}"
                " from it"
            )
        return text
    return f"no issuer {issuer} for {label(top)} in the chain or the trust store"


def build_path(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate | None],
    cas: CaIndex,
    limits: AlbLimits,
    at: datetime,
) -> PathResult:
    """Find a path from ``leaf`` (``chain[0]``) to a trust-store CA; see the module docstring.

    ``chain`` is what the client sent; ``None`` marks a certificate that did not parse.
    ``at`` (the check time, whole seconds) decides between candidate issuers, as in OpenSSL.
    """
    builder = _Builder(chain, cas, at, limits)
    path = builder.build(leaf)
    if builder.anchored(path[-1]):
        return PathResult(tuple(path), ())
    return PathResult(None, (_dead_end(path, chain),), tuple(path))
