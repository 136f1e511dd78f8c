"""Build a path from the leaf to a trust-store CA, the way an OpenSSL-family verifier does.

Our own builder (not cryptography's ``PolicyBuilder``) so that every dead end can be reported
as a sentence: a missing issuer, a signature that does not verify, an issuer that is not a CA.
Issuers come from the trust store first (OpenSSL's default "trusted first"), then from the
certificates the client sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki import policy
from mtls_doctor.pki.inspect import signed
from mtls_doctor.pki.limits import AlbLimits

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
    """Trust-store CAs indexed by subject and by encoding, built once per trust store."""

    certificates: tuple[x509.Certificate, ...]
    by_subject: dict[bytes, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    by_der: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_subject: dict[bytes, list[int]] = {}
        by_der: dict[bytes, int] = {}
        for index, cert in enumerate(self.certificates):
            by_subject.setdefault(cert.subject.public_bytes(), []).append(index)
            by_der.setdefault(cert.public_bytes(Encoding.DER), index)
        object.__setattr__(self, "by_subject", {k: tuple(v) for k, v in by_subject.items()})
        object.__setattr__(self, "by_der", by_der)


@dataclass(frozen=True)
class PathResult:
    """The first path found (leaf first, anchor last), or the reasons none was found."""

    links: tuple[PathLink, ...] | None
    dead_ends: tuple[str, ...]


def _label(link: PathLink) -> str:
    where = "certificate" if link.source == "chain" else "trust-store CA"
    return f"{where} {link.index} ({link.certificate.subject.rfc4514_string()})"


class _Search:
    def __init__(
        self, chain: Sequence[x509.Certificate | None], cas: CaIndex, limits: AlbLimits
    ) -> None:
        self.chain = chain
        self.cas = cas
        self.limits = limits
        self.dead_ends: list[str] = []

    def candidates(self, child: x509.Certificate) -> list[PathLink]:
        key = child.issuer.public_bytes()
        found = [
            PathLink("trust_store", i, self.cas.certificates[i])
            for i in self.cas.by_subject.get(key, ())
        ]
        found += [
            PathLink("chain", i, cert)
            for i, cert in enumerate(self.chain)
            if i > 0 and cert is not None and cert.subject.public_bytes() == key
        ]
        return found

    def is_anchor(self, link: PathLink) -> bool:
        if link.source != "trust_store":
            return False
        cert = link.certificate
        return self.limits.partial_chain or cert.subject == cert.issuer

    def usable(self, path: list[PathLink], link: PathLink) -> bool:
        child = path[-1]
        if any(link.certificate == p.certificate for p in path):
            return False
        if not signed(child.certificate, link.certificate):
            self.dead_ends.append(
                f"the signature of {_label(child)} does not verify with the key of {_label(link)}"
            )
            return False
        for problem in policy.issuer_problems(link.certificate):
            self.dead_ends.append(f"{_label(link)} {problem}, so it cannot sign {_label(child)}")
            return False
        limit = policy.path_length(link.certificate)
        if limit is not None and len(path) - 1 > limit:
            self.dead_ends.append(f"{_label(link)} allows {limit} CA(s) below it (pathLen)")
            return False
        return True

    def extend(self, path: list[PathLink]) -> list[PathLink] | None:
        if self.is_anchor(path[-1]):
            return path
        if len(path) >= _MAX_SEARCH_DEPTH:
            return None
        options = self.candidates(path[-1].certificate)
        if not options:
            cert = path[-1].certificate
            what = "self-signed root" if cert.subject == cert.issuer else "issuer"
            if what == "issuer":
                self.dead_ends.append(
                    f"no issuer {cert.issuer.rfc4514_string()} for {_label(path[-1])} in the "
                    "chain or the trust store"
                )
            else:
                self.dead_ends.append(f"{_label(path[-1])} is a root not in the trust store")
        for link in options:
            if self.usable(path, link):
                found = self.extend([*path, _as_trusted(link, self.cas)])
                if found:
                    return found
        return None


def _as_trusted(link: PathLink, cas: CaIndex) -> PathLink:
    """A certificate the client sent that is also in the bundle counts as the bundle's."""
    if link.source == "chain":
        index = cas.by_der.get(link.certificate.public_bytes(Encoding.DER))
        if index is not None:
            return PathLink("trust_store", index, link.certificate)
    return link


def build_path(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate | None],
    cas: CaIndex,
    limits: AlbLimits,
) -> PathResult:
    """Find a path from ``leaf`` (``chain[0]``) to a trust-store CA; see the module docstring.

    ``chain`` is what the client sent; ``None`` marks a certificate that did not parse.
    """
    search = _Search(chain, cas, limits)
    start = _as_trusted(PathLink("chain", 0, leaf), cas)
    links = search.extend([start])
    dead_ends = tuple(dict.fromkeys(search.dead_ends))
    return PathResult(tuple(links) if links else None, () if links else dead_ends)
