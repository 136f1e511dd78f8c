"""A small test PKI with one client per ALB failure, for ``mtls-doctor pki scenarios``.

Layout written under the output folder (paths in ``manifest.json`` are relative to it)::

    trust-store.pem          the CA bundle: the root CA only
    crl.pem                  a PEM CRL from the root CA that revokes the "revoked" client
    ca/                      root, intermediate and "other" (untrusted) CA certificates and keys
    server/                  cert.pem + key.pem for localhost / 127.0.0.1, issued by the root
    clients/<scenario>/      cert.pem (leaf), key.pem, chain.pem (leaf first, as sent),
                             intermediates.pem (only when the client must send some)
    manifest.json

The expected ``tls_verify_status`` of each scenario is what the verdict engine
(:func:`mtls_doctor.pki.verdict.check_chain`) returns for that chain; a test keeps the two in
step. The sizes of the "too deep" and "oversized" cases come from :class:`AlbLimits`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki.inspect import format_serial
from mtls_doctor.pki.issue import (
    CertSpec,
    Issued,
    generate_key,
    issue,
    make_crl,
    write_certs,
    write_key,
)
from mtls_doctor.pki.limits import AlbLimits

MANIFEST_NAME = "manifest.json"
SUCCESS = "Success"


@dataclass(frozen=True)
class Scenario:
    """One client case: its files (relative paths) and the status the ALB should log."""

    name: str
    description: str
    expected_tls_verify_status: str
    cert: str | None = None
    key: str | None = None
    chain: str | None = None
    intermediates: str | None = None
    subject: str | None = None
    serial_number: str | None = None

    @property
    def sends_certificate(self) -> bool:
        return self.cert is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "expected_tls_verify_status": self.expected_tls_verify_status,
            "sends_certificate": self.sends_certificate,
            "files": {
                "cert": self.cert,
                "key": self.key,
                "chain": self.chain,
                "intermediates": self.intermediates,
            },
            "subject": self.subject,
            "serial_number": self.serial_number,
        }


@dataclass(frozen=True)
class ScenarioSet:
    """Everything ``pki scenarios`` wrote."""

    out_dir: Path
    generated_at: datetime
    trust_store: str
    crls: tuple[str, ...]
    root_ca: str
    root_ca_key: str
    intermediate_ca: str
    intermediate_ca_key: str
    server_cert: str
    server_key: str
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)

    def path(self, relative: str) -> Path:
        return self.out_dir / relative

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "generated_at": self.generated_at.isoformat().replace("+00:00", "Z"),
            "trust_store": self.trust_store,
            "crls": list(self.crls),
            "root_ca": {"cert": self.root_ca, "key": self.root_ca_key},
            "intermediate_ca": {"cert": self.intermediate_ca, "key": self.intermediate_ca_key},
            "server": {"cert": self.server_cert, "key": self.server_key},
            "scenarios": [s.to_dict() for s in self.scenarios],
        }


@dataclass(frozen=True)
class _Client:
    """A scenario before it is written: the leaf, the extra certificates it sends, the text."""

    name: str
    description: str
    code: str  # "Success" or a documented failure code
    leaf: Issued | None
    extra: tuple[x509.Certificate, ...] = ()


def _ca(name: str, at: datetime, issuer: Issued | None) -> Issued:
    spec = CertSpec(name, at - timedelta(days=1), at + timedelta(days=3650), is_ca=True)
    return issue(spec, issuer, generate_key("ec256"))


def _leaf(
    name: str,
    at: datetime,
    issuer: Issued,
    *,
    start: timedelta = timedelta(hours=-1),
    days: int = 365,
    key_type: str = "ec256",
    eku: str = "clientAuth",
    padding: int = 0,
) -> Issued:
    spec = CertSpec(
        f"{name}.client.test",
        at + start,
        at + start + timedelta(days=days),
        eku=eku,
        padding_bytes=padding,
    )
    return issue(spec, issuer, generate_key(key_type))


def _clients(at: datetime, root: Issued, inter: Issued, limits: AlbLimits) -> list[_Client]:
    other_root = _ca("mtls-doctor other root CA", at, None)
    # One intermediate more than the quota allows, so the chain is too deep however the ALB
    # counts (with or without leaf and anchor; limits.chain_depth_counts is UNCONFIRMED).
    deep: list[Issued] = []
    for level in range(limits.max_chain_depth):
        deep.append(_ca(f"mtls-doctor deep CA {level + 1}", at, deep[-1] if deep else root))
    return [
        _Client(
            "success-root",
            "Valid client certificate issued by the root CA.",
            SUCCESS,
            _leaf("success-root", at, root, key_type="rsa2048"),
        ),
        _Client(
            "success-intermediate",
            "Valid client certificate issued by the intermediate"
            " CA; the client sends the intermediate.",
            SUCCESS,
            _leaf("success-intermediate", at, inter),
            (inter.cert,),
        ),
        _Client(
            "expired",
            "Client certificate whose notAfter is one day in the past.",
            "ClientCertExpired",
            _leaf("expired", at, root, start=timedelta(days=-31), days=30),
        ),
        _Client(
            "not-yet-valid",
            "Client certificate whose notBefore is one day ahead.",
            "ClientCertNotYetValid",
            _leaf("not-yet-valid", at, root, start=timedelta(days=1)),
        ),
        _Client(
            "untrusted",
            "Client certificate issued by a root CA that is not in the bundle.",
            "ClientCertUntrusted",
            _leaf("untrusted", at, other_root),
        ),
        _Client(
            "revoked",
            "Client certificate issued by the root CA and listed in crl.pem.",
            "ClientCertCrlHit",
            _leaf("revoked", at, root),
        ),
        _Client(
            "chain-too-deep",
            f"Client chain through {len(deep)} intermediates, more than"
            f" the ALB's maximum chain depth of {limits.max_chain_depth}.",
            "ClientCertMaxChainDepthExceeded",
            _leaf("chain-too-deep", at, deep[-1]),
            tuple(d.cert for d in reversed(deep)),
        ),
        _Client(
            "oversized",
            f"Client certificate larger than {limits.max_certificate_bytes}"
            " bytes (a filler extension).",
            "ClientCertMaxSizeExceeded",
            _leaf("oversized", at, root, padding=limits.max_certificate_bytes + 512),
        ),
        _Client(
            "unsupported-type",
            "Client certificate with an Ed25519 key (the ALB needs RSA"
            " 2048-8192 or ECDSA P-256/384/521). Ed25519 rather than RSA 1024 because"
            " OpenSSL clients at security level 2 refuse to load an RSA 1024 key at all.",
            "ClientCertTypeUnsupported",
            _leaf("unsupported-type", at, root, key_type="ed25519"),
        ),
        _Client(
            "wrong-purpose",
            "Client certificate whose extended key usage is serverAuth only.",
            "ClientCertPurposeInvalid",
            _leaf("wrong-purpose", at, root, eku="serverAuth"),
        ),
        _Client(
            "no-certificate",
            "The client sends no certificate. No ALB code is documented"
            " for this; the expected status is the engine's assumption"
            " (AlbLimits.empty_chain_code, UNCONFIRMED).",
            limits.empty_chain_code,
            None,
        ),
    ]


def _status(code: str) -> str:
    return code if code == SUCCESS else f"Failed:{code}"


def _write_client(out_dir: Path, client: _Client) -> Scenario:
    status = _status(client.code)
    if client.leaf is None:
        return Scenario(client.name, client.description, status)
    rel = Path("clients") / client.name
    (out_dir / rel).mkdir(parents=True, exist_ok=True)
    write_certs(out_dir / rel / "cert.pem", [client.leaf.cert])
    write_key(out_dir / rel / "key.pem", client.leaf.key)
    write_certs(out_dir / rel / "chain.pem", [client.leaf.cert, *client.extra])
    intermediates = None
    if client.extra:
        write_certs(out_dir / rel / "intermediates.pem", client.extra)
        intermediates = str(rel / "intermediates.pem")
    return Scenario(
        name=client.name,
        description=client.description,
        expected_tls_verify_status=status,
        cert=str(rel / "cert.pem"),
        key=str(rel / "key.pem"),
        chain=str(rel / "chain.pem"),
        intermediates=intermediates,
        subject=client.leaf.cert.subject.rfc4514_string(),
        serial_number=format_serial(client.leaf.cert.serial_number),
    )


def _write_pair(
    out_dir: Path, stem: str, pair: Issued, chain: Sequence[x509.Certificate] = ()
) -> None:
    write_certs(out_dir / f"{stem}.pem", [pair.cert, *chain])
    write_key(out_dir / f"{stem}.key", pair.key)


def build_scenarios(out_dir: Path, *, at: datetime, limits: AlbLimits | None = None) -> ScenarioSet:
    """Write the scenario PKI under ``out_dir`` (created if needed), valid around ``at``."""
    limits = limits or AlbLimits()
    for sub in ("ca", "server", "clients"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    root = _ca("mtls-doctor root CA", at, None)
    inter = _ca("mtls-doctor intermediate CA", at, root)
    _write_pair(out_dir, "ca/root-ca", root)
    _write_pair(out_dir, "ca/intermediate-ca", inter)
    server = issue(
        CertSpec(
            "localhost",
            at - timedelta(days=1),
            at + timedelta(days=365),
            eku="serverAuth",
            dns_names=("localhost",),
            ip_addresses=("127.0.0.1", "::1"),
        ),
        root,
        generate_key("ec256"),
    )
    write_certs(out_dir / "server/cert.pem", [server.cert])
    write_key(out_dir / "server/key.pem", server.key)
    clients = _clients(at, root, inter, limits)
    write_certs(out_dir / "trust-store.pem", [root.cert])
    revoked = [c.leaf.cert.serial_number for c in clients if c.name == "revoked" and c.leaf]
    crl = make_crl(root, revoked, at=at)
    (out_dir / "crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
    result = ScenarioSet(
        out_dir=out_dir,
        generated_at=at,
        trust_store="trust-store.pem",
        crls=("crl.pem",),
        root_ca="ca/root-ca.pem",
        root_ca_key="ca/root-ca.key",
        intermediate_ca="ca/intermediate-ca.pem",
        intermediate_ca_key="ca/intermediate-ca.key",
        server_cert="server/cert.pem",
        server_key="server/key.pem",
        scenarios=tuple(_write_client(out_dir, c) for c in clients),
    )
    (out_dir / MANIFEST_NAME).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
