"""`openssl verify` and check_chain must agree on accept/reject for the standard cases.

Where they must differ, the case says why: ALB-only limits (depth 4, sizes, key/signature
rules) that OpenSSL does not apply at its default settings.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki.verdict import TrustStore, check_chain
from tests.pki.pkihelpers import (
    DAY,
    NOW,
    SERVER_AUTH,
    Issued,
    StandardPki,
    issue,
    loaded_crl,
    make_crl,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@dataclass
class Setup:
    leaf: Issued
    untrusted: list[Issued] = field(default_factory=list)
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)
    alb_only: str = ""  # why OpenSSL accepts what the ALB rejects


def _cases(p: StandardPki) -> dict[str, Setup]:
    deep = [p.root]
    for level in range(3):
        deep.append(issue(f"Diff Deep {level}", deep[-1], ca=True))
    return {
        "valid": Setup(p.leaf, [p.intermediate]),
        "missing-intermediate": Setup(p.leaf),
        "other-root": Setup(
            issue("Stray", StandardPki.build("Stray").intermediate),
            [StandardPki.build("Stray").intermediate],
        ),
        "forged-signature": Setup(
            issue(
                "Forged",
                StandardPki.build("Forge").intermediate,
                issuer_name=p.intermediate.cert.subject,
            ),
            [p.intermediate],
        ),
        "issuer-not-ca": Setup(
            *(lambda mid: (issue("Sub", mid), [mid]))(
                issue("Mid Not CA", p.root, ca=False, key_usage="cert_sign")
            )
        ),
        "expired": Setup(issue("Exp", p.intermediate, not_after=NOW - DAY), [p.intermediate]),
        "not-yet-valid": Setup(
            issue("Nyv", p.intermediate, not_before=NOW + DAY), [p.intermediate]
        ),
        "server-only-eku": Setup(
            issue("Srv", p.intermediate, eku=(SERVER_AUTH,)), [p.intermediate]
        ),
        "revoked": Setup(issue("Rev", p.root, serial=77), crls=[make_crl(p.root, [77])]),
        "not-revoked": Setup(issue("NotRev", p.root, serial=78), crls=[make_crl(p.root, [77])]),
        "crl-expired": Setup(
            issue("Stale", p.root, serial=79),
            crls=[make_crl(p.root, last_update=NOW - 9 * DAY, next_update=NOW - DAY)],
        ),
        "too-deep": Setup(
            issue("Deep", deep[-1]),
            list(reversed(deep[1:])),
            alb_only="ALB depth limit 4; OpenSSL allows 100 by default",
        ),
        "rsa-1024": Setup(
            issue("Weak", p.intermediate, key_kind="rsa1024"),
            [p.intermediate],
            alb_only="ALB needs RSA >= 2048; OpenSSL security level 1 allows 1024",
        ),
        "oversized": Setup(
            issue("Big", p.intermediate, padding_bytes=17 * 1024),
            [p.intermediate],
            alb_only="ALB 16 KB certificate limit; OpenSSL has none",
        ),
    }


def _pem_file(path: Path, items: list[bytes]) -> Path:
    path.write_bytes(b"".join(items))
    return path


def _openssl_accepts(setup: Setup, p: StandardPki, tmp: Path) -> tuple[bool, str]:
    args = [
        "openssl",
        "verify",
        "-CAfile",
        str(_pem_file(tmp / "ca.pem", [p.root.pem])),
        "-purpose",
        "sslclient",
        "-attime",
        str(int(NOW.timestamp())),
    ]
    if setup.untrusted:
        args += ["-untrusted", str(_pem_file(tmp / "u.pem", [c.pem for c in setup.untrusted]))]
    if setup.crls:
        crl_pem = [c.public_bytes(Encoding.PEM) for c in setup.crls]
        args += ["-CRLfile", str(_pem_file(tmp / "crl.pem", crl_pem)), "-crl_check"]
    args.append(str(_pem_file(tmp / "leaf.pem", [setup.leaf.pem])))
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return done.returncode == 0, done.stdout + done.stderr


CASE_NAMES = sorted(_cases(StandardPki.build()).keys())


@pytest.mark.parametrize("name", CASE_NAMES)
def test_openssl_and_engine_agree(pki: StandardPki, name: str, tmp_path: Path) -> None:
    setup = _cases(pki)[name]
    store = TrustStore((pki.root.cert,), tuple(loaded_crl(c) for c in setup.crls))
    chain = [setup.leaf.der, *(c.der for c in setup.untrusted)]
    ours = check_chain(chain, store, at=NOW)
    theirs, output = _openssl_accepts(setup, pki, tmp_path)
    if setup.alb_only:
        assert theirs, output
        assert not ours.ok, setup.alb_only
    else:
        assert ours.ok == theirs, (ours.verdict, output)
