"""The ``X-Amzn-Mtls-*`` request headers the ALB adds for the target (spec §4.2, §4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

# The names are defined once, next to their decoder (mtls_doctor.headers); test-proven
# inverse of this module (tests/sandbox/test_header_roundtrip.py).
from mtls_doctor.headers import (
    ISSUER_HEADER,
    LEAF_HEADER,
    PASSTHROUGH_HEADER,
    SERIAL_HEADER,
    SUBJECT_HEADER,
    VALIDITY_HEADER,
)
from mtls_doctor.knowledge.fields import format_validity
from mtls_doctor.pki.inspect import format_serial

_PREFIX = "x-amzn-mtls-"

Header = tuple[str, str]


def encode_pem(certs: Sequence[x509.Certificate], safe: str) -> str:
    """URL-encoded PEM, certificates in the order given (leaf first)."""
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs).decode("ascii")
    return quote(pem, safe=safe)


def verify_headers(leaf: x509.Certificate, safe: str) -> list[Header]:
    """Verify mode: five headers about the leaf. DNs as RFC 4514 strings (the successor of the
    RFC 2253 format AWS names; the two agree for the attribute types certificates use)."""
    return [
        (SERIAL_HEADER, format_serial(leaf.serial_number)),
        (ISSUER_HEADER, leaf.issuer.rfc4514_string()),
        (SUBJECT_HEADER, leaf.subject.rfc4514_string()),
        (VALIDITY_HEADER, format_validity(leaf.not_valid_before_utc, leaf.not_valid_after_utc)),
        (LEAF_HEADER, encode_pem([leaf], safe)),
    ]


def passthrough_headers(chain: Sequence[x509.Certificate], safe: str) -> list[Header]:
    """Passthrough mode: the whole chain as sent, leaf first. No header without a certificate
    (UNCONFIRMED what the ALB does then; an absent header is the natural reading)."""
    return [(PASSTHROUGH_HEADER, encode_pem(chain, safe))] if chain else []


def mtls_headers(mode: str, chain: Sequence[x509.Certificate], safe: str) -> list[Header]:
    """The headers for ``mode`` and the client's ``chain`` (leaf first)."""
    if mode == "passthrough":
        return passthrough_headers(chain, safe)
    return verify_headers(chain[0], safe) if chain else []


def is_mtls_header(name: str) -> bool:
    return name.lower().startswith(_PREFIX)


def strip_mtls_headers(headers: Sequence[Header]) -> list[Header]:
    """Drop client-sent ``X-Amzn-Mtls-*`` headers so a client cannot forge them.
    UNCONFIRMED (spec §4.3) whether the ALB strips or overrides them; both protect the target.
    """
    return [(n, v) for n, v in headers if not is_mtls_header(n)]
