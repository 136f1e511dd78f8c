"""A tiny PKI for the trust-store tests: root CA, a good and an expired client, one CRL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization

from mtls_doctor.pki.issue import CertSpec, Issued, generate_key, issue, make_crl

AT = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)


@dataclass
class Pki:
    root: Issued
    revoked: Issued
    expired: Issued
    bundle: bytes
    crl: bytes


def build(at: datetime = AT) -> Pki:
    """Everything valid at ``at`` except the expired client."""
    root = issue(
        CertSpec("Test Root", at - timedelta(days=30), at + timedelta(days=365), is_ca=True),
        None,
        generate_key("ec256"),
    )
    revoked = issue(
        CertSpec("revoked-client", at - timedelta(days=10), at + timedelta(days=30)),
        root,
        generate_key("ec256"),
    )
    expired = issue(
        CertSpec("expired-client", at - timedelta(days=10), at - timedelta(days=1)),
        root,
        generate_key("ec256"),
    )
    crl = make_crl(root, [revoked.cert.serial_number], at=at)
    return Pki(root, revoked, expired, pem(root.cert), crl.public_bytes(serialization.Encoding.PEM))


def pem(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def serial_hex(issued: Issued) -> str:
    return format(issued.cert.serial_number, "X")
