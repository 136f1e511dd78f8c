"""What a certificate says, in the terms the ALB logs use (``cert inspect``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtls_doctor.pki.limits import SERIAL_BYTE_PADDED
from mtls_doctor.pki.names import same_name
from mtls_doctor.pki.signing import signature_valid

_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}
_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def format_serial(serial: int) -> str:
    """Upper-case hex as in the connection log (``FEF257372D5C14D4``).

    UNCONFIRMED (spec §1.7): leading zeros. We pad to whole bytes (``03A5B1``) when
    :data:`~mtls_doctor.pki.limits.SERIAL_BYTE_PADDED` is set; compare serials as numbers.
    """
    sign, value = ("-", -serial) if serial < 0 else ("", serial)
    text = f"{value:X}"
    if SERIAL_BYTE_PADDED and len(text) % 2:
        text = "0" + text
    return sign + text


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, whole seconds (the log's validity format)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_description(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    """(key type, size in bits, curve name) of the certificate's public key."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return ("unreadable", None, None)
    if isinstance(key, rsa.RSAPublicKey):
        return ("RSA", key.key_size, None)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("Ed25519", 256, None)
    if isinstance(key, ed448.Ed448PublicKey):
        return ("Ed448", 456, None)
    if isinstance(key, dsa.DSAPublicKey):
        return ("DSA", key.key_size, None)
    return (type(key).__name__, None, None)


def signature_description(cert: x509.Certificate) -> tuple[str, str | None]:
    """(signature algorithm name, hash name) as OpenSSL would name them."""
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None) or oid.dotted_string
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:  # an OID cryptography does not know
        return (name, None)
    return (name, digest.name if digest is not None else None)


@dataclass(frozen=True)
class CertificateSummary:
    """One certificate, described; ``signed_by`` is the index of its issuer in the same list."""

    index: int
    subject: str
    issuer: str
    serial: str
    version: int
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: int | None
    curve: str | None
    signature_algorithm: str
    signature_hash: str | None
    basic_constraints: dict[str, Any] | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    subject_alternative_names: tuple[str, ...]
    der_size: int
    sha256: str
    self_issued: bool
    signed_by: int | None = None
    extension_errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see docs/certificates.md for the shape)."""
        return {
            "schema_version": 1,
            "index": self.index,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "version": self.version,
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "curve": self.curve,
            "signature_algorithm": self.signature_algorithm,
            "signature_hash": self.signature_hash,
            "basic_constraints": self.basic_constraints,
            "key_usage": list(self.key_usage),
            "extended_key_usage": list(self.extended_key_usage),
            "subject_alternative_names": list(self.subject_alternative_names),
            "der_size": self.der_size,
            "sha256": self.sha256,
            "self_issued": self.self_issued,
            "signed_by": self.signed_by,
            "extension_errors": list(self.extension_errors),
        }


def _extensions(cert: x509.Certificate, errors: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {"bc": None, "ku": (), "eku": (), "san": ()}
    try:
        extensions = list(cert.extensions)
    except ValueError as error:
        errors.append(str(error))
        return found
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            found["bc"] = {"ca": value.ca, "path_length": value.path_length}
        elif isinstance(value, x509.KeyUsage):
            found["ku"] = tuple(f for f in _KEY_USAGE_FLAGS if getattr(value, f))
        elif isinstance(value, x509.ExtendedKeyUsage):
            found["eku"] = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in value)
        elif isinstance(value, x509.SubjectAlternativeName):
            found["san"] = tuple(_general_name(n) for n in value)
    return found


def _general_name(name: x509.GeneralName) -> str:
    kinds = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.RFC822Name: "email",
        x509.UniformResourceIdentifier: "URI",
        x509.DirectoryName: "DirName",
    }
    label = kinds.get(type(name), type(name).__name__)
    value = name.value
    if isinstance(value, x509.Name):
        value = value.rfc4514_string()
    return f"{label}:{value}"


def describe_certificate(cert: x509.Certificate, der: bytes, index: int = 0) -> CertificateSummary:
    """Summarise ``cert``; ``der`` is its encoding as found (for size and fingerprint)."""
    errors: list[str] = []
    ext = _extensions(cert, errors)
    key_type, bits, curve = key_description(cert)
    sig_name, sig_hash = signature_description(cert)
    return CertificateSummary(
        index=index,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format_serial(cert.serial_number),
        version=cert.version.value + 1,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        curve=curve,
        signature_algorithm=sig_name,
        signature_hash=sig_hash,
        basic_constraints=ext["bc"],
        key_usage=ext["ku"],
        extended_key_usage=ext["eku"],
        subject_alternative_names=ext["san"],
        der_size=len(der),
        sha256=hashlib.sha256(der).hexdigest().upper(),
        self_issued=same_name(cert.subject, cert.issuer),
        extension_errors=tuple(errors),
    )


def signed(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key made ``child``'s signature and the names match
    (as RFC 5280 compares names, see :mod:`~mtls_doctor.pki.names`)."""
    return same_name(child.issuer, issuer.subject) and signature_valid(child, issuer)


def describe_chain(
    certs: Sequence[x509.Certificate], ders: Sequence[bytes]
) -> tuple[CertificateSummary, ...]:
    """Summaries in file order, each with ``signed_by`` set when its issuer is in the list."""
    summaries = [
        describe_certificate(c, d, i) for i, (c, d) in enumerate(zip(certs, ders, strict=True))
    ]
    for i, cert in enumerate(certs):
        for j, candidate in enumerate(certs):
            if i != j and signed(cert, candidate):
                summaries[i] = replace(summaries[i], signed_by=j)
                break
        else:
            if summaries[i].self_issued and signed(cert, cert):
                summaries[i] = replace(summaries[i], signed_by=i)
    return tuple(summaries)
