"""Mint test certificates: CAs, servers and client certificates for one custom case.

Used by the scenario PKI (:mod:`mtls_doctor.pki.scenarios`), by ``mtls-doctor pki issue`` and
by the sandbox for its temporary server certificate. Everything here is for local testing:
the keys are written unencrypted, with file mode 0600, and never printed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mtls_doctor.errors import CertificateLoadError, InputError, UsageError
from mtls_doctor.pki.inspect import format_serial

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_CURVES: dict[str, ec.EllipticCurve] = {
    "ec256": ec.SECP256R1(),
    "ec384": ec.SECP384R1(),
    "ec521": ec.SECP521R1(),
}
_RSA_BITS = {"rsa1024": 1024, "rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096}
KEY_TYPES: tuple[str, ...] = (*_RSA_BITS, *_CURVES, "ed25519")
EKU_CHOICES: tuple[str, ...] = ("clientAuth", "serverAuth", "both", "none")
# No spaces: the positional awk recipes of the AWS runbook split subjects on spaces.
ORGANIZATION = "mtls-doctor-sandbox"
# An unregistered private OID: the filler extension that makes a certificate oversized.
PADDING_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")


def generate_key(kind: str) -> PrivateKey:
    """A new private key of ``kind`` (one of :data:`KEY_TYPES`)."""
    if kind in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[kind])
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise InputError(f"unknown key type {kind!r}", hint=f"Use one of: {', '.join(KEY_TYPES)}.")


@dataclass(frozen=True)
class CertSpec:
    """What to put in one certificate."""

    common_name: str
    not_before: datetime
    not_after: datetime
    is_ca: bool = False
    eku: str = "clientAuth"
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    padding_bytes: int = 0  # size of a filler extension, to exceed certificate-size limits
    organization: str = ORGANIZATION


@dataclass(frozen=True)
class Issued:
    """A certificate together with its private key (in memory only)."""

    cert: x509.Certificate
    key: PrivateKey


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(spec: CertSpec) -> x509.Name:
    return x509.Name(
        [
            # Most general first, as CAs issue them; rfc4514_string() then reads "CN=..,O=..",
            # the order of the ALB's log and header examples.
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, spec.organization),
            x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name),
        ]
    )


def _eku(choice: str) -> x509.ExtendedKeyUsage | None:
    usages = {
        "clientAuth": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "serverAuth": [ExtendedKeyUsageOID.SERVER_AUTH],
        "both": [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        "none": [],
    }
    if choice not in usages:
        raise InputError(f"unknown EKU {choice!r}", hint=f"Use one of: {', '.join(EKU_CHOICES)}.")
    return x509.ExtendedKeyUsage(usages[choice]) if usages[choice] else None


def _key_usage(is_ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not is_ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(spec: CertSpec, issuer: Issued | None, key: PrivateKey) -> Issued:
    """Sign a certificate for ``key`` with ``issuer`` (``None``: self-signed)."""
    subject = _name(spec)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.BasicConstraints(ca=spec.is_ca, path_length=None), critical=True)
        .add_extension(_key_usage(spec.is_ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        builder = builder.add_extension(aki, critical=False)
    eku = None if spec.is_ca else _eku(spec.eku)
    if eku is not None:
        builder = builder.add_extension(eku, critical=False)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if spec.padding_bytes:
        filler = x509.UnrecognizedExtension(PADDING_OID, _der_octets(b"\0" * spec.padding_bytes))
        builder = builder.add_extension(filler, critical=False)
    return Issued(builder.sign(signer_key, _hash_for(signer_key)), key)


def _der_octets(payload: bytes) -> bytes:
    """``payload`` as a DER OCTET STRING, so the filler extension is well-formed."""
    size = len(payload)
    if size < 0x80:
        return b"\x04" + bytes([size]) + payload
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(length)]) + length + payload


def make_crl(
    issuer: Issued, revoked_serials: Sequence[int], *, at: datetime, days: int = 30
) -> x509.CertificateRevocationList:
    """A CRL signed by ``issuer`` listing ``revoked_serials``, valid from ``at``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(at - timedelta(hours=1))
        .next_update(at + timedelta(days=days))
    )
    for serial in revoked_serials:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(at - timedelta(hours=1))
            .build()
        )
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(issuer.key, _hash_for(issuer.key))


def write_certs(path: Path, certs: Sequence[x509.Certificate]) -> Path:
    """Write ``certs`` as concatenated PEM (no blank lines: valid as an ALB CA bundle)."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_key(path: Path, key: PrivateKey) -> Path:
    """Write ``key`` as unencrypted PKCS#8 PEM, readable by its owner only (mode 0600)."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the file may have existed with wider permissions
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def load_ca(cert_path: Path, key_path: Path) -> Issued:
    """Load a CA certificate (first one in the file) and its private key."""
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    except (OSError, ValueError) as error:
        raise CertificateLoadError(
            f"{cert_path}: not a PEM certificate ({error})",
            hint="Pass the CA certificate written by `mtls-doctor pki scenarios`.",
        ) from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CertificateLoadError(
            f"{key_path}: not an unencrypted PEM private key ({error})",
            hint="Pass the CA key with --ca-key (default: the --ca path with a .key suffix).",
        ) from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise CertificateLoadError(f"{key_path}: unsupported CA key type")
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise CertificateLoadError(
            f"{key_path} is not the key of {cert_path}", hint="Check --ca and --ca-key."
        )
    return Issued(cert, key)


@dataclass(frozen=True)
class IssueResult:
    """The files ``pki issue`` wrote and what the certificate says."""

    cert_path: Path
    key_path: Path
    chain_path: Path
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    key_type: str
    eku: str

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "cert": str(self.cert_path),
            "key": str(self.key_path),
            "chain": str(self.chain_path),
            "subject": self.subject,
            "issuer": self.issuer,
            "serial_number": self.serial_number,
            "not_before": self.not_before.isoformat().replace("+00:00", "Z"),
            "not_after": self.not_after.isoformat().replace("+00:00", "Z"),
            "key_type": self.key_type,
            "eku": self.eku,
        }


def issue_client(
    ca: Issued,
    out_dir: Path,
    *,
    at: datetime,
    days: int = 365,
    not_before: datetime | None = None,
    key_type: str = "ec256",
    eku: str = "clientAuth",
    common_name: str = "client",
) -> IssueResult:
    """Issue one client certificate under ``ca`` and write cert.pem, key.pem and chain.pem."""
    if not 1 <= len(common_name) <= 64:  # X.509's upper bound for a common name
        raise UsageError(f"--cn {common_name!r}: a common name has 1 to 64 characters")
    start = (not_before or at - timedelta(minutes=5)).astimezone(UTC)
    try:
        spec = CertSpec(common_name, start, start + timedelta(days=days), eku=eku)
    except OverflowError:
        raise UsageError(f"--days {days}: the certificate would end after year 9999") from None
    leaf = issue(spec, ca, generate_key(key_type))
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path = write_certs(out_dir / "cert.pem", [leaf.cert])
    key_path = write_key(out_dir / "key.pem", leaf.key)
    # A self-signed CA is the trust anchor and is not sent; an intermediate must be.
    extra = [] if ca.cert.issuer == ca.cert.subject else [ca.cert]
    chain_path = write_certs(out_dir / "chain.pem", [leaf.cert, *extra])
    return IssueResult(
        cert_path=cert_path,
        key_path=key_path,
        chain_path=chain_path,
        subject=leaf.cert.subject.rfc4514_string(),
        issuer=leaf.cert.issuer.rfc4514_string(),
        serial_number=format_serial(leaf.cert.serial_number),
        not_before=leaf.cert.not_valid_before_utc,
        not_after=leaf.cert.not_valid_after_utc,
        key_type=key_type,
        eku=eku,
    )
