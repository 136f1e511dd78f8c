"""Per-certificate rules of spec §3.2 (type) and the purpose checks, as plain sentences.

Each function returns the problems it found (empty = fine), so the chain engine and the
trust-store linter share them and word them the same way.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from mtls_doctor.pki.inspect import key_description, signature_description
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.signing import self_signed

_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_HASHES = ("sha256", "sha384", "sha512")
# spec §3.2: SHA-256/384/512 with RSA (PKCS#1 v1.5 or PSS with MGF1) or with ECDSA.
_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.RSASSA_PSS,
}


def version_problems(cert: x509.Certificate) -> list[str]:
    """X.509v3 is required (spec §3.2)."""
    try:
        version = cert.version
    except x509.InvalidVersion:
        return ["has an unknown X.509 version"]
    if version is not x509.Version.v3:
        return [f"is X.509 v{version.value + 1}; the ALB needs v3"]
    return []


def key_problems(cert: x509.Certificate, limits: AlbLimits) -> list[str]:
    """RSA between the limits' sizes, or ECDSA on P-256/384/521 (spec §3.2)."""
    kind, bits, curve = key_description(cert)
    if kind == "RSA" and bits is not None:
        if limits.min_rsa_bits <= bits <= limits.max_rsa_bits:
            return []
        return [
            f"has an RSA {bits}-bit key; the ALB accepts "
            f"{limits.min_rsa_bits}-{limits.max_rsa_bits} bits"
        ]
    if kind == "EC":
        if curve in _CURVES:
            return []
        return [f"has an EC key on {curve}; the ALB accepts P-256, P-384 and P-521"]
    return [f"has a {kind} key; the ALB accepts RSA and ECDSA only"]


def signature_problems(cert: x509.Certificate) -> list[str]:
    """SHA-256/384/512 with RSA, RSA-PSS or ECDSA (spec §3.2)."""
    name, digest = signature_description(cert)
    if cert.signature_algorithm_oid not in _SIGNATURES or digest not in _HASHES:
        shown = f"{name} ({digest})" if digest and digest not in name.lower() else name
        return [
            f"is signed with {shown}; the ALB accepts SHA-256/384/512 with RSA, RSA-PSS or ECDSA"
        ]
    return []


def type_problems(cert: x509.Certificate, limits: AlbLimits) -> list[str]:
    """Everything that makes the ALB call a certificate's type unsupported."""
    return version_problems(cert) + key_problems(cert, limits) + signature_problems(cert)


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """basicConstraints CA:TRUE. The bundle linter's test; on a path, :func:`ca_problems`
    applies OpenSSL 3.0's finer rule (an anchor may do without basicConstraints)."""
    value = _extension(cert, x509.BasicConstraints)
    return isinstance(value, x509.BasicConstraints) and value.ca


def path_length(cert: x509.Certificate) -> int | None:
    """The CA's pathLenConstraint, if any."""
    value = _extension(cert, x509.BasicConstraints)
    return value.path_length if isinstance(value, x509.BasicConstraints) else None


def ca_kind(cert: x509.Certificate) -> int:
    """OpenSSL's ``X509_check_ca``: 0 not a CA, 1 basicConstraints CA:TRUE, 3 a v1
    self-signed root, 4 no basicConstraints but keyUsage keyCertSign."""
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        return 0
    constraints = _extension(cert, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints):
        return 1 if constraints.ca else 0
    if cert.version is x509.Version.v1 and self_signed(cert):
        return 3
    return 4 if isinstance(usage, x509.KeyUsage) else 0


def ca_problems(cert: x509.Certificate, anchor: bool, limits: AlbLimits) -> list[str]:
    """Why ``cert`` may not sign the certificate below it on a path (check_extensions).

    OpenSSL 3.0 wants basicConstraints CA:TRUE from every CA but the anchor at the top,
    which may instead be a v1 root or have keyUsage keyCertSign only
    (``root_without_basic_constraints``).
    """
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        return ["is a CA whose keyUsage does not allow keyCertSign"]
    kind = ca_kind(cert)
    if kind == 1:
        return []
    if kind == 0:
        return ["is not a CA (basicConstraints CA:TRUE is missing)"]
    if anchor and limits.root_without_basic_constraints:
        return []
    where = "a trust anchor (root_without_basic_constraints)" if anchor else "an intermediate CA"
    return [f"has no basicConstraints extension, which OpenSSL 3.0 refuses for {where}"]


def _eku_lacks_client_auth(cert: x509.Certificate) -> bool:
    usage = _extension(cert, x509.ExtendedKeyUsage)
    return isinstance(usage, x509.ExtendedKeyUsage) and (
        ExtendedKeyUsageOID.CLIENT_AUTH not in list(usage)
    )


def leaf_purpose_problems(cert: x509.Certificate, limits: AlbLimits) -> list[str]:
    """TLS client authentication must be allowed by EKU and (optionally) keyUsage."""
    problems = []
    if _eku_lacks_client_auth(cert):
        problems.append("has an extendedKeyUsage without clientAuth")
    usage = _extension(cert, x509.KeyUsage)
    if (
        limits.check_leaf_key_usage
        and isinstance(usage, x509.KeyUsage)
        and not (usage.digital_signature or usage.key_agreement)
    ):
        problems.append("has a keyUsage without digitalSignature or keyAgreement")
    return problems


def ca_purpose_problems(cert: x509.Certificate, limits: AlbLimits) -> list[str]:
    """A CA whose EKU is present must allow clientAuth (OpenSSL's sslclient purpose)."""
    if limits.check_ca_extended_key_usage and _eku_lacks_client_auth(cert):
        return ["is a CA whose extendedKeyUsage does not include clientAuth"]
    return []
