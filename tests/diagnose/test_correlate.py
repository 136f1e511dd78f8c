"""Correlation of logged failures with CRLs, the bundle and client certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.diagnose.correlate import ClientCertIndex, Correlator
from mtls_doctor.pki.load import load_crls
from mtls_doctor.pki.verdict import TrustStore
from tests.pki.pkihelpers import NOW, StandardPki, issue, make_crl, pem_of, write

WHEN = NOW.replace(tzinfo=None) if NOW.tzinfo else NOW


def cert_row(serial: str, subject: str) -> tuple[object, ...]:
    return (serial, subject, None, None, 2, 1, WHEN, WHEN)


def test_crl_hit_names_the_crl_and_a_miss_says_so(tmp_path: Path) -> None:
    pki = StandardPki.build("Corr")
    revoked = pki.leaf.cert.serial_number
    crl_path = write(
        tmp_path / "rev.pem", make_crl(pki.intermediate, [revoked]).public_bytes(Encoding.PEM)
    )
    corr = Correlator(None, load_crls(crl_path).crls, None)
    hit = corr.correlate("ClientCertCrlHit", [cert_row(format(revoked, "X"), "CN=x")], [])
    assert hit[0]["revocations"][0]["crl"].endswith("rev.pem")
    miss = corr.correlate("ClientCertCrlHit", [cert_row("ABCDEF", "CN=y")], [])
    assert miss[0]["revocations"] == []


def test_untrusted_finds_a_ca_of_the_same_organisation_only_when_there_is_one() -> None:
    pki = StandardPki.build("Corr")
    store = TrustStore((pki.root.cert,))
    corr = Correlator(store, (), None)
    same = corr.correlate("ClientCertUntrusted", [cert_row("01", "CN=a,O=mtls-doctor tests")], [])
    other = corr.correlate("ClientCertUntrusted", [cert_row("01", "CN=a,O=Elsewhere")], [])
    assert same[0]["issuer_candidates"]["same_organisation"]
    assert other[0]["issuer_candidates"]["same_organisation"] == []


def test_certificate_from_folder_is_rechecked_at_the_connection_time(tmp_path: Path) -> None:
    pki = StandardPki.build("Corr")
    write(tmp_path / "client.pem", pem_of(pki.leaf, pki.intermediate))
    stranger = issue("Stranger", issue("Other Root", ca=True))
    write(tmp_path / "stranger.pem", pem_of(stranger))
    corr = Correlator(TrustStore((pki.root.cert,)), (), ClientCertIndex.from_folder(tmp_path))
    leaf = pki.leaf.cert
    good = corr.correlate(
        "ClientCertUntrusted",
        [cert_row(format(leaf.serial_number, "X"), leaf.subject.rfc4514_string())],
        [],
    )
    assert good[0]["predicted"] == "Success" and good[0]["matches_log"] is False
    bad = corr.correlate(
        "ClientCertUntrusted",
        [
            cert_row(
                format(stranger.cert.serial_number, "X"), stranger.cert.subject.rfc4514_string()
            )
        ],
        [],
    )
    assert bad[0]["predicted"] == "ClientCertUntrusted" and bad[0]["matches_log"] is True
    assert datetime.fromisoformat(bad[0]["checked_at"].replace("Z", "+00:00")).tzinfo == UTC
