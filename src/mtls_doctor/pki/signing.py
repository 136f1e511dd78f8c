"""Who may have issued whom, and whether a signature verifies: OpenSSL's rules, by name.

OpenSSL picks an issuer without verifying any signature (``ossl_x509_likely_issued``): the
names must match (:mod:`~mtls_doctor.pki.names`), the child's authority key identifier
must fit the issuer (``X509_check_akid``), and the child's signature algorithm must suit
the issuer's key type. Signatures are verified later, once the path is built.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from mtls_doctor.pki.names import name_key


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def subject_key_id(cert: x509.Certificate) -> bytes | None:
    """The subjectKeyIdentifier, if any."""
    value = _extension(cert, x509.SubjectKeyIdentifier)
    return value.digest if isinstance(value, x509.SubjectKeyIdentifier) else None


def authority_key_id(cert: x509.Certificate) -> x509.AuthorityKeyIdentifier | None:
    """The authorityKeyIdentifier, if any."""
    value = _extension(cert, x509.AuthorityKeyIdentifier)
    return value if isinstance(value, x509.AuthorityKeyIdentifier) else None


def akid_matches(issuer: x509.Certificate, akid: x509.AuthorityKeyIdentifier | None) -> bool:
    """``X509_check_akid``: key id against the issuer's SKI, then serial and issuer name."""
    if akid is None:
        return True
    skid = subject_key_id(issuer)
    if akid.key_identifier is not None and skid is not None and akid.key_identifier != skid:
        return False
    serial = akid.authority_cert_serial_number
    if serial is not None and serial != issuer.serial_number:
        return False
    names = akid.authority_cert_issuer or []
    directory = next((n.value for n in names if isinstance(n, x509.DirectoryName)), None)
    return directory is None or name_key(directory) == name_key(issuer.issuer)


def _key_family(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa"
    return "other"


def _signature_family(cert: x509.Certificate) -> str:
    name = (getattr(cert.signature_algorithm_oid, "_name", "") or "").lower()
    for family, marks in (
        ("ec", ("ecdsa",)),
        ("rsa", ("rsa",)),
        ("ed25519", ("ed25519",)),
        ("ed448", ("ed448",)),
        ("dsa", ("dsa",)),
    ):
        if any(m in name for m in marks):
            return family
    return "other"


def algorithm_matches(issuer: x509.Certificate, child: x509.Certificate) -> bool:
    """The child's signature algorithm suits the issuer's key type (``check_sig_alg_match``)."""
    try:
        family = _key_family(issuer.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return False
    return family == "other" or family == _signature_family(child)


def likely_issued(issuer: x509.Certificate, child: x509.Certificate) -> bool:
    """Could ``issuer`` have issued ``child``: names, AKID and key type, no signature."""
    return (
        name_key(issuer.subject) == name_key(child.issuer)
        and akid_matches(issuer, authority_key_id(child))
        and algorithm_matches(issuer, child)
    )


def self_signed(cert: x509.Certificate) -> bool:
    """OpenSSL's EXFLAG_SS: self-issued, its AKID fits itself, algorithm fits its key."""
    return likely_issued(cert, cert)


def signature_valid(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key made ``child``'s signature (names are not looked at)."""
    try:
        key = issuer.public_key()
        data, signature = child.tbs_certificate_bytes, child.signature
        digest = child.signature_hash_algorithm
        params = child.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            assert isinstance(digest, hashes.HashAlgorithm)
            pad = params if isinstance(params, padding.AsymmetricPadding) else padding.PKCS1v15()
            key.verify(signature, data, pad, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert isinstance(digest, hashes.HashAlgorithm)
            key.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey):
            assert isinstance(digest, hashes.HashAlgorithm)
            key.verify(signature, data, digest)
        else:
            return False
    except (ValueError, TypeError, AssertionError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def crl_signature_valid(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``crl``."""
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False
