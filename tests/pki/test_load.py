"""Loaders: PEM with text around it, DER, PKCS#7; private keys ignored; garbage never crashes."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.errors import CertificateLoadError
from mtls_doctor.pki.inspect import describe_chain, format_serial
from mtls_doctor.pki.load import (
    load_certificates,
    load_certificates_from_bytes,
    load_crls,
    load_crls_from_bytes,
)
from tests.pki.pkihelpers import StandardPki, issue, key_pem, make_crl, write


def test_pem_with_comments_and_text_dump(pki: StandardPki) -> None:
    data = (
        b"# bundle\nCertificate:\n    Data: ...\n" + pki.leaf.pem + b"\n\n" + pki.intermediate.pem
    )
    loaded = load_certificates_from_bytes(data, "chain.pem")
    assert loaded.ders == (pki.leaf.der, pki.intermediate.der)
    assert not loaded.had_private_key and not loaded.warnings


def test_der_and_pkcs7(pki: StandardPki, tmp_path: Path) -> None:
    assert load_certificates(write(tmp_path / "c.der", pki.leaf.der)).ders == (pki.leaf.der,)
    p7 = pkcs7.serialize_certificates([pki.leaf.cert, pki.intermediate.cert], Encoding.DER)
    assert len(load_certificates(write(tmp_path / "c.p7b", p7)).certificates) == 2
    p7_pem = pkcs7.serialize_certificates([pki.leaf.cert], Encoding.PEM)
    assert load_certificates(write(tmp_path / "p.p7b", p7_pem)).ders == (pki.leaf.der,)


def test_private_key_is_ignored_with_a_warning(pki: StandardPki) -> None:
    loaded = load_certificates_from_bytes(key_pem(pki.leaf) + pki.leaf.pem, "both.pem")
    assert loaded.had_private_key
    assert loaded.ders == (pki.leaf.der,)
    assert "private key" in loaded.warnings[0]
    assert "MII" not in "".join(loaded.warnings)


def test_unreadable_inputs_name_the_file(pki: StandardPki, tmp_path: Path) -> None:
    with pytest.raises(CertificateLoadError, match=r"nothing\.pem"):
        load_certificates(tmp_path / "nothing.pem")
    broken = pki.leaf.pem.replace(b"M", b"!", 3)
    with pytest.raises(CertificateLoadError, match=r"bad\.pem:1: .*base64"):
        load_certificates_from_bytes(broken, "bad.pem")
    with pytest.raises(CertificateLoadError, match="no certificate"):
        load_certificates_from_bytes(key_pem(pki.leaf), "key.pem")


def test_lenient_keeps_an_invalid_block(pki: StandardPki) -> None:
    import base64

    junk = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(b"0\x03\x02\x01\x01")
    junk += b"-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateLoadError):
        load_certificates_from_bytes(junk + pki.intermediate.pem, "x.pem")
    loaded = load_certificates_from_bytes(junk + pki.intermediate.pem, "x.pem", lenient=True)
    assert loaded.invalid_indexes == (0,) and len(loaded.ders) == 2


def test_crls_pem_der_and_pkcs7(pki: StandardPki, tmp_path: Path) -> None:
    crl = make_crl(pki.root, [5])
    pem = load_crls(write(tmp_path / "a.crl.pem", crl.public_bytes(Encoding.PEM)))
    der = load_crls(write(tmp_path / "a.crl", crl.public_bytes(Encoding.DER)))
    assert pem.crls[0].was_pem and not der.crls[0].was_pem
    p7 = subprocess.run(
        ["openssl", "crl2pkcs7", "-in", str(tmp_path / "a.crl.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    from_p7 = load_crls(write(tmp_path / "a.p7b", p7))
    assert from_p7.crls[0].der == crl.public_bytes(Encoding.DER)
    with pytest.raises(CertificateLoadError, match="no CRL"):
        load_crls_from_bytes(pki.leaf.pem, "cert.pem")


def test_inspect_summary(pki: StandardPki) -> None:
    leaf = issue("Inspect Me", pki.intermediate, serial=0x3A5B1, san=("client.example",))
    summaries = describe_chain([leaf.cert, pki.intermediate.cert], [leaf.der, pki.intermediate.der])
    first = summaries[0].to_dict()
    assert first["serial"] == "03A5B1"
    assert first["subject"] == "O=mtls-doctor tests,CN=Inspect Me"
    assert first["key_type"] == "EC" and first["curve"] == "secp256r1"
    assert first["extended_key_usage"] == ["clientAuth"]
    assert first["subject_alternative_names"] == ["DNS:client.example"]
    assert first["signed_by"] == 1 and summaries[1].signed_by is None
    assert len(first["sha256"]) == 64


def test_format_serial() -> None:
    assert format_serial(0xFEF257372D5C14D4) == "FEF257372D5C14D4"
    assert format_serial(0x3A5B1) == "03A5B1"
    assert format_serial(0) == "00"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    for loader in (load_certificates_from_bytes, load_crls_from_bytes):
        with contextlib.suppress(CertificateLoadError):
            loader(data, "fuzz")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"CERTIFICATE", b"X509 CRL", b"PKCS7"]))
def test_arbitrary_pem_bodies_never_crash(body: bytes, label: bytes) -> None:
    import base64

    data = b"-----BEGIN " + label + b"-----\n" + base64.encodebytes(body)
    data += b"-----END " + label + b"-----\n"
    for loader in (load_certificates_from_bytes, load_crls_from_bytes):
        with contextlib.suppress(CertificateLoadError):
            loader(data, "fuzz")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=3))
def test_mutated_der_never_crashes(position: int, patch: bytes) -> None:
    der = bytearray(StandardPki.build("Fuzz").leaf.der)
    position %= len(der)
    der[position : position + len(patch)] = patch
    with contextlib.suppress(CertificateLoadError):
        load_certificates_from_bytes(bytes(der), "fuzz.der")
