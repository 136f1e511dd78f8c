"""Read certificates and CRLs from PEM (with text around it), DER or PKCS#7 files.

Private keys found on the way are skipped: never decoded, printed or copied; the result only
says that one was there. Anything unreadable raises :class:`CertificateLoadError` naming the
file and what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from mtls_doctor.errors import CertificateLoadError
from mtls_doctor.pki import _der

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_CRL_LABELS = {b"X509 CRL"}
_PKCS7_LABELS = {b"PKCS7", b"CMS"}
KEY_WARNING = "{name}: holds a private key; it was ignored (never read, printed or copied)"


@dataclass(frozen=True)
class LoadedCertificates:
    """Certificates from one file, in file order.

    ``ders`` holds every certificate block as found; ``certificates`` the ones that parse.
    They differ only with ``lenient=True``, where ``invalid_indexes`` names the blocks of
    ``ders`` that are not valid X.509 (a client chain keeps them, to report ClientCertInvalid).
    """

    path: Path
    certificates: tuple[x509.Certificate, ...]
    ders: tuple[bytes, ...]
    warnings: tuple[str, ...]
    had_private_key: bool
    invalid_indexes: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoadedCrl:
    """One CRL and how it was stored (the ALB accepts PEM only)."""

    crl: x509.CertificateRevocationList
    der: bytes
    was_pem: bool
    source: str


@dataclass(frozen=True)
class LoadedCrls:
    """CRLs from one file."""

    path: Path
    crls: tuple[LoadedCrl, ...]
    warnings: tuple[str, ...]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateLoadError(
            f"{path}: cannot read: {error.strerror or error}",
            hint="Check the path and its permissions.",
        ) from None


def load_certificates(path: Path, *, lenient: bool = False) -> LoadedCertificates:
    """Load every certificate in ``path`` (PEM, DER or PKCS#7); see the module docstring."""
    loaded = load_certificates_from_bytes(_read(path), str(path), lenient=lenient)
    return LoadedCertificates(
        path,
        loaded.certificates,
        loaded.ders,
        loaded.warnings,
        loaded.had_private_key,
        loaded.invalid_indexes,
    )


def load_certificates_from_bytes(
    data: bytes, name: str, *, lenient: bool = False
) -> LoadedCertificates:
    """Like :func:`load_certificates`, for bytes; ``name`` labels errors and warnings."""
    warnings: list[str] = []
    had_key = False
    if b"-----BEGIN " in data:
        ders, had_key = _pem_certificate_ders(data, name, warnings)
    else:
        ders = _der_items(data, name, "certificate")
    if had_key:
        warnings.append(KEY_WARNING.format(name=name))
    if not ders:
        raise CertificateLoadError(
            f"{name}: no certificate found",
            hint="Give a PEM file with -----BEGIN CERTIFICATE----- blocks, a DER or a .p7b file.",
        )
    certs: list[x509.Certificate] = []
    invalid: list[int] = []
    # Numbered from 0 (the leaf, or the first in the file), as everywhere in the tool: the
    # verdict's findings, `cert inspect`'s [0], openssl's depth.
    for index, der in enumerate(ders):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except (ValueError, x509.InvalidVersion) as error:
            if not lenient:
                raise CertificateLoadError(
                    f"{name}: certificate {index} is not valid X.509: {error}"
                ) from None
            invalid.append(index)
            warnings.append(f"{name}: certificate {index} is not valid X.509: {error}")
    return LoadedCertificates(
        Path(name), tuple(certs), tuple(ders), tuple(warnings), had_key, tuple(invalid)
    )


def _pem_blocks(data: bytes, name: str) -> list[tuple[bytes, bytes, int]]:
    """(label, decoded body, 1-based line) of every PEM block; bad base64 is an error."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        line = data.count(b"\n", 0, match.start()) + 1
        label = match.group(1)
        if b"PRIVATE KEY" in label:
            blocks.append((label, b"", line))  # never decode key material
            continue
        body = b"".join(match.group(2).split())
        if b":" in match.group(2):  # "Proc-Type: 4,ENCRYPTED" and similar headers
            raise CertificateLoadError(f"{name}:{line}: PEM block with headers is not supported")
        try:
            blocks.append((label, base64.b64decode(body, validate=True), line))
        except (binascii.Error, ValueError):
            raise CertificateLoadError(
                f"{name}:{line}: the {label.decode()} block is not valid base64",
                hint="The block may be truncated or edited; export it again.",
            ) from None
    return blocks


def _pem_certificate_ders(data: bytes, name: str, warnings: list[str]) -> tuple[list[bytes], bool]:
    ders: list[bytes] = []
    had_key = False
    for label, body, line in _pem_blocks(data, name):
        if b"PRIVATE KEY" in label:
            had_key = True
        elif label in _CERT_LABELS:
            ders.append(body)
        elif label in _PKCS7_LABELS:
            ders.extend(_pkcs7_parts(body, name, 0))
        else:
            warnings.append(f"{name}:{line}: skipped a {label.decode()} block")
    return ders, had_key


def _der_items(data: bytes, name: str, kind_wanted: str) -> list[bytes]:
    """The DER ``certificate`` or ``crl`` items of a DER file, bare or inside PKCS#7."""
    try:
        kind = _der.classify(data)
    except ValueError as error:
        raise CertificateLoadError(f"{name}: neither PEM nor DER: {error}") from None
    if kind == "pkcs7":
        return _pkcs7_parts(data, name, 0 if kind_wanted == "certificate" else 1)
    if kind == kind_wanted:
        return [data]
    label = "a certificate" if kind_wanted == "certificate" else "a CRL"
    raise CertificateLoadError(f"{name}: DER data that is not {label} ({kind})")


def _pkcs7_parts(data: bytes, name: str, tag: int) -> list[bytes]:
    try:
        return _der.pkcs7_parts(data, tag)
    except ValueError as error:
        raise CertificateLoadError(f"{name}: unreadable PKCS#7: {error}") from None


def load_crls(path: Path) -> LoadedCrls:
    """Load every CRL in ``path`` (PEM, DER or PKCS#7), noting which were PEM."""
    return load_crls_from_bytes(_read(path), str(path))


def load_crls_from_bytes(data: bytes, name: str) -> LoadedCrls:
    """Like :func:`load_crls`, for bytes; ``name`` labels errors and warnings."""
    warnings: list[str] = []
    found: list[tuple[bytes, bool]] = []
    if b"-----BEGIN " in data:
        for label, body, line in _pem_blocks(data, name):
            if label in _CRL_LABELS:
                found.append((body, True))
            elif label in _PKCS7_LABELS:
                found.extend((der, True) for der in _pkcs7_parts(body, name, 1))
            elif b"PRIVATE KEY" in label:
                warnings.append(KEY_WARNING.format(name=name))
            else:
                warnings.append(f"{name}:{line}: skipped a {label.decode()} block")
    else:
        found.extend((der, False) for der in _der_items(data, name, "crl"))
    if not found:
        raise CertificateLoadError(
            f"{name}: no CRL found", hint="Give a PEM file with -----BEGIN X509 CRL----- blocks."
        )
    crls = []
    for index, (der, was_pem) in enumerate(found):
        try:
            crl = x509.load_der_x509_crl(der)
        except ValueError as error:
            raise CertificateLoadError(f"{name}: CRL {index} is not valid: {error}") from None
        source = name if len(found) == 1 else f"{name}#{index}"
        crls.append(LoadedCrl(crl, der, was_pem, source))
    return LoadedCrls(Path(name), tuple(crls), tuple(warnings))
