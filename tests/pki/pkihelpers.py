"""Build small test PKIs with ``cryptography``, at a pinned time (reusable by other suites).

Example::

    pki = StandardPki.build()           # root -> intermediate -> leaf (clientAuth), at NOW
    store = pki.trust_store()           # TrustStore with the root
    verdict = check_chain(pki.chain_ders(), store, at=NOW)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mtls_doctor.pki.load import LoadedCrl
from mtls_doctor.pki.verdict import TrustStore

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@cache
def make_key(kind: str = "ec256", slot: str = "") -> PrivateKey:
    """A private key of ``kind`` (ec256, ec384, ec521, ec224, rsa1024, rsa2048, rsa4096,
    ed25519); the same (kind, slot) always gives the same key, so tests stay fast."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    curves = {
        "ec256": ec.SECP256R1(),
        "ec384": ec.SECP384R1(),
        "ec521": ec.SECP521R1(),
        "ec224": ec.SECP224R1(),
        "ec256k1": ec.SECP256K1(),
    }
    if kind in curves:
        return ec.generate_private_key(curves[kind])
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key."""

    cert: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)


def name(cn: str, org: str = "mtls-doctor tests") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def _sign_args(
    key: PrivateKey, digest: hashes.HashAlgorithm | None, pss: bool
) -> dict[str, object]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return {"algorithm": None}
    args: dict[str, object] = {"algorithm": digest or hashes.SHA256()}
    if pss:
        args["rsa_padding"] = padding.PSS(
            padding.MGF1(args["algorithm"]), padding.PSS.DIGEST_LENGTH
        )  # type: ignore[arg-type]
    return args


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    key_kind: str = "ec256",
    ca: bool = False,
    path_length: int | None = None,
    not_before: datetime = NOW - 30 * DAY,
    not_after: datetime = NOW + 365 * DAY,
    eku: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
    key_usage: str | None = "default",
    digest: hashes.HashAlgorithm | None = None,
    pss: bool = False,
    serial: int | None = None,
    padding_bytes: int = 0,
    san: Sequence[str] = (),
    slot: str | None = None,
    issuer_name: x509.Name | None = None,
    basic_constraints: bool = True,
) -> Issued:
    """Issue a certificate; ``issuer=None`` makes it self-signed. Defaults: a client leaf."""
    key = make_key(key_kind, slot if slot is not None else cn)
    signer_key = issuer.key if issuer else key
    subject = name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic_constraints:
        constraints = x509.BasicConstraints(ca=ca, path_length=path_length)
        builder = builder.add_extension(constraints, True)
    usage = ("cert_sign" if ca else "sign") if key_usage == "default" else key_usage
    if usage is not None:
        builder = builder.add_extension(_key_usage(usage), True)
    if eku is not None and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in san]), False
        )
    if padding_bytes:
        oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
        builder = builder.add_extension(
            x509.UnrecognizedExtension(oid, b"\x00" * padding_bytes), False
        )
    cert = builder.sign(private_key=signer_key, **_sign_args(signer_key, digest, pss))  # type: ignore[arg-type]
    return Issued(cert, key)


def _key_usage(kind: str) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    sign = kind in ("sign", "cert_sign")
    return x509.KeyUsage(
        digital_signature=sign,
        key_agreement=kind == "encipher",
        key_cert_sign=kind == "cert_sign",
        crl_sign=kind == "cert_sign",
        **flags,
    )


def make_crl(
    issuer: Issued,
    revoked: Iterable[int] = (),
    *,
    last_update: datetime = NOW - DAY,
    next_update: datetime = NOW + 7 * DAY,
    signer: Issued | None = None,
) -> x509.CertificateRevocationList:
    """A CRL naming ``issuer``, signed by ``signer`` (default: the issuer itself)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(last_update)
        .next_update(next_update)
    )
    for serial in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(last_update)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    key = (signer or issuer).key
    return builder.sign(private_key=key, algorithm=hashes.SHA256())  # type: ignore[arg-type]


def loaded_crl(crl: x509.CertificateRevocationList, *, pem: bool = True) -> LoadedCrl:
    return LoadedCrl(crl, crl.public_bytes(Encoding.DER), pem, "test.crl")


def pem_of(*items: Issued | x509.Certificate | x509.CertificateRevocationList) -> bytes:
    out = b""
    for item in items:
        obj = item.cert if isinstance(item, Issued) else item
        out += obj.public_bytes(Encoding.PEM)
    return out


def key_pem(issued: Issued) -> bytes:
    return issued.key.private_bytes(
        Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class StandardPki:
    """root -> intermediate -> leaf, all EC P-256, valid around :data:`NOW`."""

    root: Issued
    intermediate: Issued
    leaf: Issued

    @classmethod
    def build(cls, prefix: str = "Test", **leaf_options: object) -> StandardPki:
        root = issue(f"{prefix} Root CA", ca=True)
        intermediate = issue(f"{prefix} Intermediate CA", root, ca=True)
        leaf = issue(f"{prefix} Client", intermediate, **leaf_options)  # type: ignore[arg-type]
        return cls(root, intermediate, leaf)

    def chain_ders(self) -> list[bytes]:
        return [self.leaf.der, self.intermediate.der]

    def trust_store(self, crls: Sequence[x509.CertificateRevocationList] = ()) -> TrustStore:
        return TrustStore((self.root.cert,), tuple(loaded_crl(c) for c in crls))


def v1_certificate(subject_cn: str, issuer: Issued) -> bytes:
    """DER of an X.509 v1 certificate (no version field, no extensions) signed by ``issuer``.

    cryptography's builder always writes v3, so the TBS is rebuilt by hand.
    """
    template = issue(subject_cn, issuer, eku=None, key_usage=None)
    tbs = template.cert.tbs_certificate_bytes
    fields = _der_children(tbs)
    kept = [f for f in fields if f[0] not in (0xA0, 0xA3)]
    new_tbs = _der_wrap(0x30, b"".join(f[1] for f in kept))
    assert isinstance(issuer.key, ec.EllipticCurvePrivateKey)
    signature = issuer.key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    alg = _der_wrap(0x30, _der_wrap(0x06, bytes.fromhex("2a8648ce3d040302")))
    return _der_wrap(0x30, new_tbs + alg + _der_wrap(0x03, b"\x00" + signature))


def _der_wrap(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _der_children(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, full element bytes) of the children of the SEQUENCE ``data``."""

    def header(offset: int) -> tuple[int, int]:
        first = data[offset + 1]
        if first < 0x80:
            return offset + 2, first
        count = first & 0x7F
        return offset + 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")

    start, length = header(0)
    items = []
    offset = start
    while offset < start + length:
        body, size = header(offset)
        items.append((data[offset], data[offset : body + size]))
        offset = body + size
    return items
