"""The probe's inputs: the URL, and the client identity (certificate chain + private key).

The private key is read into memory, handed to OpenSSL and dropped. It is never put into a
result, a message or a file. Error messages name the key *file*, never its content.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from mtls_doctor.errors import CertificateLoadError, InputError, UsageError
from mtls_doctor.pki.load import load_certificates
from mtls_doctor.probe.model import Endpoint

ClientKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
_KEY_MARKER = b"PRIVATE KEY-----"


class KeyPasswordRequired(InputError):
    """The key file is encrypted and no passphrase was given."""


def parse_endpoint(url: str, servername: str | None = None) -> Endpoint:
    """``https://HOST[:PORT][/path]`` (or ``HOST[:PORT]``) into an :class:`Endpoint`."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise UsageError(
            f"{url!r}: only https:// URLs can be probed",
            hint="mTLS needs TLS; e.g. https://api.example.com or https://10.0.0.5:8443",
        )
    try:
        port = parts.port or 443
    except ValueError:
        raise UsageError(f"{url!r}: the port is not a number from 0 to 65535") from None
    host = parts.hostname or ""
    if not host:
        raise UsageError(f"{url!r} names no host", hint="e.g. https://api.example.com")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    name = servername or (None if _is_ip(host) else host)
    return Endpoint(host, port, path, name)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ClientIdentity:
    """The chain we present (leaf first) and its key; ``repr`` never shows the key."""

    chain: tuple[x509.Certificate, ...]
    ders: tuple[bytes, ...]
    key: ClientKey = field(repr=False)
    warnings: tuple[str, ...] = ()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(
            f"{path}: cannot read the {what}: {error.strerror or error}",
            hint="Check the path and its permissions.",
        ) from None


def key_needs_password(key_path: Path) -> bool:
    """True when ``key_path`` holds an encrypted private key (so the CLI can ask for it)."""
    data = _read(key_path, "private key")
    if b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        return True
    try:
        serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _load_key(path: Path, password: bytes | None) -> ClientKey:
    data = _read(path, "private key")
    try:
        if _KEY_MARKER in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except TypeError:
        # "password given but not encrypted" or "encrypted but no password"
        if password is None:
            raise KeyPasswordRequired(
                f"{path}: the private key is encrypted",
                hint="Type the passphrase when asked, or pass --key-password-env VAR.",
            ) from None
        raise InputError(
            f"{path}: a passphrase was given but the private key is not encrypted",
            hint="Drop --key-password-env.",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        # cryptography says "Bad decrypt" or "Could not deserialize": both mean we cannot use it.
        wrong = " (wrong passphrase?)" if password is not None else ""
        raise InputError(
            f"{path}: cannot load the private key{wrong}",
            hint="--key takes a PEM or DER private key (RSA, EC or Ed25519).",
        ) from None
    if not isinstance(key, ClientKey):
        raise InputError(f"{path}: unsupported private key type {type(key).__name__}")
    return key


def load_identity(cert: Path, key: Path | None, password: bytes | None) -> ClientIdentity:
    """The chain in ``cert`` and the key in ``key`` (or in ``cert`` when ``key`` is None)."""
    loaded = load_certificates(cert)
    key_path = key or cert
    if key is None and not loaded.had_private_key:
        raise UsageError(
            f"{cert} holds no private key and no --key was given",
            hint="Pass --key KEY.pem (the key of the leaf certificate).",
        )
    private = _load_key(key_path, password)
    leaf_public = loaded.certificates[0].public_key()
    if _public_der(private.public_key()) != _public_der(leaf_public):
        raise CertificateLoadError(
            f"{key_path}: the private key does not belong to the first certificate of {cert}",
            hint="--cert must start with the leaf certificate whose key --key holds.",
        )
    # Keep the warning about an embedded key only when that key is not the one we use.
    warnings = tuple(w for w in loaded.warnings if key is not None or "private key" not in w)
    return ClientIdentity(loaded.certificates, loaded.ders, private, warnings)


def _public_der(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
