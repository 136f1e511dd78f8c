"""What a decoded client-certificate header is: the header names, the result, the errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.errors import InputError
from mtls_doctor.pki.inspect import describe_chain, format_time

PASSTHROUGH_HEADER = "X-Amzn-Mtls-Clientcert"
SERIAL_HEADER = "X-Amzn-Mtls-Clientcert-Serial-Number"
ISSUER_HEADER = "X-Amzn-Mtls-Clientcert-Issuer"
SUBJECT_HEADER = "X-Amzn-Mtls-Clientcert-Subject"
VALIDITY_HEADER = "X-Amzn-Mtls-Clientcert-Validity"
LEAF_HEADER = "X-Amzn-Mtls-Clientcert-Leaf"
MAX_VALUE_CHARS = 1024 * 1024  # the ALB's whole request header is 64 KB; be generous


class HeaderDecodeError(InputError):
    """The value is not a client-certificate header in any form we know (exit 3)."""


class PrivateKeyRefused(HeaderDecodeError):
    """The value holds a private key: refused, never decoded, never shown."""


@dataclass(frozen=True)
class HeaderMismatch:
    """A verify-mode header that disagrees with the certificate it travels with."""

    header: str
    header_value: str
    certificate_value: str

    def to_dict(self) -> dict[str, str]:
        """``{"header", "header_value", "certificate_value"}``."""
        return {
            "header": self.header,
            "header_value": self.header_value,
            "certificate_value": self.certificate_value,
        }


@dataclass(frozen=True)
class DecodedClientCert:
    """The chain a header carried (leaf first) and how it had to be read."""

    certificates: tuple[x509.Certificate, ...]
    form: str  # "url-encoded", "decoded" or "base64-der"
    repaired: bool
    warnings: tuple[str, ...] = ()
    header_block: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # the X-Amzn-Mtls-* lines of a pasted block
    mismatches: tuple[HeaderMismatch, ...] = ()

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def ders(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(Encoding.DER) for c in self.certificates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``schema_version`` 1; shape in docs/headers.md)."""
        summaries = describe_chain(self.certificates, self.ders)
        return {
            "schema_version": 1,
            "form": self.form,
            "header_block": self.header_block,
            "repaired": self.repaired,
            "certificates": [
                {
                    "index": s.index,
                    "subject": s.subject,
                    "issuer": s.issuer,
                    "serial_number": s.serial,
                    "not_before": format_time(s.not_before),
                    "not_after": format_time(s.not_after),
                    "key_type": s.key_type,
                    "key_bits": s.key_bits,
                    "curve": s.curve,
                    "signature_algorithm": s.signature_algorithm,
                    "sha256": s.sha256,
                    "signed_by": s.signed_by,
                }
                for s in summaries
            ],
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "mismatches": [m.to_dict() for m in self.mismatches],
            "warnings": list(self.warnings),
        }
