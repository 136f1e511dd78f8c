"""trust-store check: the ALB's upload rules and quotas, and --fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.errors import CertificateLoadError
from mtls_doctor.pki.bundle import check_trust_store, write_fixed_bundle
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.load import load_certificates
from tests.pki.pkihelpers import DAY, NOW, StandardPki, issue, key_pem, make_crl, write


def _codes(path: Path, crls: list[Path] | None = None, **options: object) -> list[str]:
    report = check_trust_store(path, crls or [], now=NOW, **options)  # type: ignore[arg-type]
    return [f.code for f in report.findings]


def test_clean_bundle_passes_and_near_misses_fail(pki: StandardPki, tmp_path: Path) -> None:
    clean = b"# our roots\n" + pki.root.pem + b"# and the intermediate\n" + pki.intermediate.pem
    assert _codes(write(tmp_path / "ok.pem", clean)) == []
    dashed = clean.replace(b"# our roots", b"# our roots - 2025")
    assert _codes(write(tmp_path / "dash.pem", dashed)) == ["BundleCommentHasDash"]
    blank = clean.replace(b"# and", b"\n# and")
    report = check_trust_store(write(tmp_path / "blank.pem", blank), now=NOW)
    assert [(f.code, f.line) for f in report.findings] == [
        ("BundleBlankLine", 2 + pki.root.pem.count(b"\n"))
    ]
    dump = b"Certificate:\n    Data:\n" + clean
    assert _codes(write(tmp_path / "dump.pem", dump)) == ["BundleTextOutsideBlock"] * 2


def test_der_bundle_is_not_pem(pki: StandardPki, tmp_path: Path) -> None:
    assert _codes(write(tmp_path / "root.der", pki.root.der)) == ["BundleNotPem"]


def test_private_key_is_flagged_but_never_echoed(pki: StandardPki, tmp_path: Path) -> None:
    report = check_trust_store(write(tmp_path / "k.pem", pki.root.pem + key_pem(pki.root)), now=NOW)
    assert [f.code for f in report.findings] == ["BundleOtherBlock"]
    assert "MII" not in str(report.to_dict())


def test_certificate_rules(pki: StandardPki, tmp_path: Path) -> None:
    leaf = issue("Not A CA", pki.root)
    weak = issue("Weak CA", key_kind="rsa1024", ca=True)
    old = issue("Old CA", ca=True, not_after=NOW - DAY)
    soon = issue("Soon CA", ca=True, not_after=NOW + 10 * DAY)
    data = pki.root.pem + leaf.pem + weak.pem + old.pem + soon.pem + pki.root.pem
    codes = _codes(write(tmp_path / "b.pem", data))
    assert sorted(codes) == sorted(
        [
            "BundleNotCa",
            "BundleTypeUnsupported",
            "BundleExpired",
            "BundleExpiringSoon",
            "BundleDuplicate",
        ]
    )
    assert _codes(tmp_path / "b.pem", warn_days=5).count("BundleExpiringSoon") == 0


def test_quotas(pki: StandardPki, tmp_path: Path) -> None:
    path = write(tmp_path / "b.pem", pki.root.pem + pki.intermediate.pem)
    assert _codes(path, limits=AlbLimits(max_ca_certificates=2)) == []
    assert _codes(path, limits=AlbLimits(max_ca_certificates=1)) == ["BundleTooManyCertificates"]
    assert _codes(path, limits=AlbLimits(max_subject_bytes=50)) == ["BundleSubjectsTooLarge"]
    big = issue("Big CA", ca=True, padding_bytes=17 * 1024)
    assert _codes(write(tmp_path / "big.pem", big.pem)) == ["BundleCertificateTooLarge"]


def test_crl_rules(pki: StandardPki, tmp_path: Path) -> None:
    bundle = write(tmp_path / "b.pem", pki.root.pem)
    good = write(tmp_path / "good.pem", make_crl(pki.root, [1, 2]).public_bytes(Encoding.PEM))
    assert _codes(bundle, [good]) == []
    der = write(tmp_path / "c.crl", make_crl(pki.root).public_bytes(Encoding.DER))
    assert _codes(bundle, [der]) == ["CrlNotPem"]
    stale = make_crl(pki.root, last_update=NOW - 9 * DAY, next_update=NOW - DAY)
    assert _codes(bundle, [write(tmp_path / "s.pem", stale.public_bytes(Encoding.PEM))]) == [
        "CrlPastNextUpdate"
    ]
    foreign = make_crl(pki.intermediate).public_bytes(Encoding.PEM)
    assert _codes(bundle, [write(tmp_path / "f.pem", foreign)]) == ["CrlUnusable"]
    forged = make_crl(pki.root, signer=StandardPki.build("Forger").root)
    assert _codes(bundle, [write(tmp_path / "x.pem", forged.public_bytes(Encoding.PEM))]) == [
        "CrlUnusable"
    ]
    assert _codes(bundle, [good, good], limits=AlbLimits(max_crls=1)) == ["CrlTooMany"]
    assert _codes(bundle, [good], limits=AlbLimits(max_revocation_entries=1)) == [
        "CrlTooManyEntries"
    ]


def test_fix_writes_a_clean_bundle(pki: StandardPki, tmp_path: Path) -> None:
    leaf = issue("Not A CA", pki.root)
    messy = b"# a - b\n\n" + pki.root.pem + key_pem(pki.root) + leaf.pem + pki.root.pem + b"\n"
    out = tmp_path / "clean.pem"
    result = write_fixed_bundle(write(tmp_path / "messy.pem", messy), out)
    assert result.kept == 1
    assert out.read_bytes() == pki.root.pem
    assert _codes(out) == []
    assert any("duplicate" in c for c in result.changes)
    assert any("not a CA" in c for c in result.changes)
    assert load_certificates(out).ders == (pki.root.der,)


def test_fix_refuses_an_empty_result(pki: StandardPki, tmp_path: Path) -> None:
    leaf = issue("Lonely Leaf", pki.root)
    out = tmp_path / "out.pem"
    with pytest.raises(CertificateLoadError, match="no CA"):
        write_fixed_bundle(write(tmp_path / "leaf.pem", leaf.pem), out)
    assert not out.exists()
