"""Fidelity to an OpenSSL-family verifier (issue #22), through the public API only.

Each test targets one defect of the old engine: names compared as bytes, path building
that went back to client certificates above a trust-store CA, signatures checked before
CRLs and times, and the edge behaviours that are now settings.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from mtls_doctor.diagnose.correlate import ClientCertIndex
from mtls_doctor.pki.limits import AlbLimits
from mtls_doctor.pki.logmatch import LoggedConnection, compare_with_log
from mtls_doctor.pki.verdict import TrustStore, check_chain
from tests.pki.pkihelpers import (
    DAY,
    NOW,
    SERVER_AUTH,
    Issued,
    issue,
    loaded_crl,
    make_crl,
    make_key,
    write,
)


def _name(*pairs: tuple[str, _ASN1Type]) -> x509.Name:
    oids = (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME)
    return x509.Name(
        [x509.NameAttribute(oid, v, _type=t) for oid, (v, t) in zip(oids, pairs, strict=True)]
    )


UTF8, PRINTABLE = _ASN1Type.UTF8String, _ASN1Type.PrintableString
EXACT = _name(("US", PRINTABLE), ("Example Org", UTF8), ("Issuing CA", UTF8))
VARIANTS = {
    "printable": _name(("US", PRINTABLE), ("Example Org", PRINTABLE), ("Issuing CA", PRINTABLE)),
    "case": _name(("us", PRINTABLE), ("EXAMPLE org", UTF8), ("issuing ca", UTF8)),
    "spacing": _name(("US", PRINTABLE), ("  Example \t Org ", UTF8), ("Issuing   CA", UTF8)),
    "all": _name(("Us", UTF8), (" example  ORG", PRINTABLE), ("ISSUING\nCA  ", UTF8)),
}


# --- chains whose only difference is how a name is written --------------------------------


def _ca(name: x509.Name, slot: str, issuer: Issued | None = None) -> Issued:
    """A CA with the given subject (``issue`` only makes plain names)."""
    key = make_key("ec256", slot)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 30 * DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    )
    return Issued(builder.sign(signer, hashes.SHA256()), key)  # type: ignore[arg-type]


def _leaf(issuer: Issued, issuer_name: x509.Name, serial: int, **options: object) -> Issued:
    return issue("Name Twin Client", issuer, serial=serial, issuer_name=issuer_name, **options)  # type: ignore[arg-type]


def _crl(issuer: Issued, name: x509.Name, revoked: list[int]) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(NOW - DAY)
        .next_update(NOW + 7 * DAY)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - DAY)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]


Case = Callable[[Issued, x509.Name], tuple[list[bytes], TrustStore]]


def _leaf_under_root(**options: object) -> Case:
    def build(root: Issued, written: x509.Name) -> tuple[list[bytes], TrustStore]:
        leaf = _leaf(root, written, 0x5151, **options)
        return [leaf.der], TrustStore(
            (root.cert,), (loaded_crl(_crl(root, root.cert.subject, [])),)
        )

    return build


def _revoked_by_crl_written(root: Issued, written: x509.Name) -> tuple[list[bytes], TrustStore]:
    leaf = _leaf(root, root.cert.subject, 0x5152)
    return [leaf.der], TrustStore((root.cert,), (loaded_crl(_crl(root, written, [0x5152])),))


def _intermediate_issuer_written(
    root: Issued, written: x509.Name
) -> tuple[list[bytes], TrustStore]:
    mid = _ca(_name(("US", PRINTABLE), ("Example Org", UTF8), ("Mid CA", UTF8)), "twin-mid", root)
    leaf = _leaf(mid, mid.cert.subject, 0x5153)
    # the intermediate names its issuer (the root) in the other writing
    key = make_key("ec256", "twin-mid")
    again = (
        x509.CertificateBuilder()
        .subject_name(mid.cert.subject)
        .issuer_name(written)
        .public_key(key.public_key())
        .serial_number(mid.cert.serial_number)
        .not_valid_before(NOW - 30 * DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.AuthorityKeyIdentifier(
                None, [x509.DirectoryName(written)], root.cert.serial_number
            ),
            False,
        )
        .sign(root.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    crls = (loaded_crl(_crl(root, written, [])), loaded_crl(_crl(mid, mid.cert.subject, [])))
    return [leaf.der, Issued(again, key).der], TrustStore((root.cert,), crls)


TWIN_CASES: dict[str, tuple[str, Case]] = {
    "trusted": ("Success", _leaf_under_root()),
    "expired": ("ClientCertExpired", _leaf_under_root(not_after=NOW - DAY)),
    "purpose": ("ClientCertPurposeInvalid", _leaf_under_root(eku=(SERVER_AUTH,))),
    "revoked": ("ClientCertCrlHit", _revoked_by_crl_written),
    "intermediate": ("Success", _intermediate_issuer_written),
}


@pytest.mark.parametrize("kind", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(TWIN_CASES))
def test_a_name_written_differently_gets_the_twins_verdict(case: str, kind: str) -> None:
    code, build = TWIN_CASES[case]
    root = _ca(EXACT, "twin-root")
    twin_chain, twin_store = build(root, EXACT)
    chain, store = build(root, VARIANTS[kind])
    assert check_chain(twin_chain, twin_store, at=NOW).verdict == code
    result = check_chain(chain, store, at=NOW)
    assert result.verdict == code, [f.message for f in result.findings]
    assert not [f for f in result.findings if f.severity == "warning"]


def test_log_line_subject_in_another_writing_is_the_leafs() -> None:
    logged = LoggedConnection(NOW, "Success", "0A", "O=MTLS-DOCTOR TESTS, CN=name twin client ")
    comparison = compare_with_log(logged, "Success", 10, "O=mtls-doctor tests,CN=Name Twin Client")
    assert comparison.notes == ()
    other = LoggedConnection(NOW, "Success", "0A", "O=mtls-doctor tests,CN=Someone Else")
    assert compare_with_log(other, "Success", 10, "O=mtls-doctor tests,CN=Name Twin Client").notes


def test_correlation_finds_a_certificate_logged_in_another_writing(tmp_path: Path) -> None:
    root = _ca(EXACT, "twin-root")
    leaf = _leaf(root, root.cert.subject, 0x5154)
    write(tmp_path / "client.pem", leaf.pem)
    index = ClientCertIndex.from_folder(tmp_path)
    logged_subject = "O=Mtls-Doctor Tests,CN=NAME  TWIN CLIENT"
    assert leaf.cert.subject.rfc4514_string() != logged_subject
    assert index.find("5154", logged_subject) is not None
    assert index.find("5154", "O=mtls-doctor tests,CN=Other") is None


# --- item 2: no client certificate above a trust-store CA ----------------------------------


def _policy_setup() -> tuple[Issued, Issued, Issued, Issued]:
    root = issue("Fidelity Root CA", ca=True)
    policy = issue("Fidelity Policy CA", root, ca=True)
    issuing = issue("Fidelity Issuing CA", policy, ca=True)
    leaf = issue("Fidelity Client", issuing)
    return root, policy, issuing, leaf


def test_no_client_certificate_goes_above_a_trust_store_ca() -> None:
    root, policy, issuing, leaf = _policy_setup()
    store = TrustStore((root.cert, issuing.cert))  # bundle: root + issuing CA
    result = check_chain([leaf.der, policy.der], store, at=NOW)  # client: leaf + policy CA
    assert result.verdict == "ClientCertUntrusted"
    message = result.findings[0].message
    assert "no client certificate above a trust-store CA" in message
    assert "certificate 1" in message  # says the client did send the policy CA
    # near misses: the bundle holds the policy CA too, or only the root
    full = TrustStore((root.cert, policy.cert, issuing.cert))
    assert check_chain([leaf.der, policy.der], full, at=NOW).ok
    only_root = TrustStore((root.cert,))
    assert check_chain([leaf.der, issuing.der, policy.der], only_root, at=NOW).ok


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_rejects_the_policy_ca_example_too(tmp_path: Path) -> None:
    root, policy, issuing, leaf = _policy_setup()
    bundle = write(tmp_path / "bundle.pem", root.pem + issuing.pem)
    sent = write(tmp_path / "sent.pem", policy.pem)
    args = ["openssl", "verify", "-purpose", "sslclient", "-attime", str(int(NOW.timestamp()))]
    args += [
        "-CAfile",
        str(bundle),
        "-untrusted",
        str(sent),
        str(write(tmp_path / "l.pem", leaf.pem)),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "unable to get issuer certificate" in done.stdout + done.stderr


# --- order of checks: signatures last, with the validity times ---------------------------


def _forged_leaf(issuer: Issued, **options: object) -> Issued:
    forger = issue("Forger CA", ca=True, slot="forger")
    return issue("Forged Client", forger, issuer_name=issuer.cert.subject, **options)  # type: ignore[arg-type]


def test_a_revoked_leaf_with_a_bad_signature_is_reported_revoked() -> None:
    root = issue("Order Root CA", ca=True)
    leaf = _forged_leaf(root, serial=0x77)
    store = TrustStore((root.cert,), (loaded_crl(make_crl(root, [0x77])),))
    result = check_chain([leaf.der], store, at=NOW)
    assert result.verdict == "ClientCertCrlHit"
    assert "ClientCertUntrusted" in [f.code for f in result.findings]  # still reported


def test_a_stale_crl_beats_a_bad_signature() -> None:
    root = issue("Order Root CA", ca=True)
    stale = make_crl(root, last_update=NOW - 9 * DAY, next_update=NOW - DAY)
    store = TrustStore((root.cert,), (loaded_crl(stale),))
    assert check_chain([_forged_leaf(root).der], store, at=NOW).verdict == (
        "ClientCertCrlProcessingError"
    )


def test_an_expired_ca_above_a_bad_signature_is_reported_expired() -> None:
    root = issue("Order Root CA", ca=True)
    mid = issue("Order Old Mid", root, ca=True, not_after=NOW - DAY)
    result = check_chain([_forged_leaf(mid).der, mid.der], TrustStore((root.cert,)), at=NOW)
    assert result.verdict == "ClientCertExpired"  # the CA is checked before the leaf below it
    assert result.findings[0].certificate == 1


def test_a_purpose_error_low_beats_a_missing_ca_flag_high() -> None:
    root = issue("Order Root CA", ca=True)
    upper = issue("Order Upper Not CA", root, ca=False, key_usage="cert_sign", eku=None)
    lower_ca = _ca_with_eku("Order Lower CA", upper)
    leaf = issue("Order Client", lower_ca)
    result = check_chain([leaf.der, lower_ca.der, upper.der], TrustStore((root.cert,)), at=NOW)
    assert result.verdict == "ClientCertPurposeInvalid", [f.message for f in result.findings]
    assert "ClientCertUntrusted" in [f.code for f in result.findings]


def _ca_with_eku(cn: str, issuer: Issued) -> Issued:
    key = make_key("ec256", cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 30 * DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(cert, key)


# --- the edges, each a setting -------------------------------------------------------------


def test_not_after_equal_to_the_check_time_is_expired() -> None:
    root = issue("Edge Root CA", ca=True)
    leaf = issue("Edge Client", root, not_after=NOW)
    store = TrustStore((root.cert,))
    assert check_chain([leaf.der], store, at=NOW).verdict == "ClientCertExpired"
    assert check_chain([leaf.der], store, at=NOW - DAY / 86400).ok  # one second before
    inclusive = AlbLimits(not_after_inclusive=True)
    assert check_chain([leaf.der], store, at=NOW, limits=inclusive).ok


def test_crl_next_update_equal_to_the_check_time_is_expired() -> None:
    root = issue("Edge Root CA", ca=True)
    leaf = issue("Edge Client", root)
    crl = make_crl(root, last_update=NOW - DAY, next_update=NOW)
    store = TrustStore((root.cert,), (loaded_crl(crl),))
    assert check_chain([leaf.der], store, at=NOW).verdict == "ClientCertCrlProcessingError"
    inclusive = AlbLimits(crl_next_update_inclusive=True)
    assert check_chain([leaf.der], store, at=NOW, limits=inclusive).ok


def test_v3_root_with_key_cert_sign_but_no_basic_constraints() -> None:
    root = issue("Edge Bare Root", ca=True, basic_constraints=False)
    leaf = issue("Edge Client", root)
    store = TrustStore((root.cert,))
    assert check_chain([leaf.der], store, at=NOW).ok  # OpenSSL 3.0 accepts it as the anchor
    strict = AlbLimits(root_without_basic_constraints=False)
    assert check_chain([leaf.der], store, at=NOW, limits=strict).verdict == "ClientCertUntrusted"
    mid = issue("Edge Bare Mid", root, ca=True, basic_constraints=False)
    below = issue("Edge Client", mid)
    assert check_chain([below.der, mid.der], store, at=NOW).verdict == "ClientCertUntrusted"


def test_several_crls_of_one_issuer_the_newest_timely_one_counts() -> None:
    root = issue("Edge Root CA", ca=True)
    leaf = issue("Edge Client", root, serial=0x99)
    stale = make_crl(root, last_update=NOW - 20 * DAY, next_update=NOW - 10 * DAY)
    good = make_crl(root, last_update=NOW - DAY)
    old_revoking = make_crl(root, [0x99], last_update=NOW - 3 * DAY)

    def verdict(*crls: x509.CertificateRevocationList, limits: AlbLimits = AlbLimits()) -> str:
        store = TrustStore((root.cert,), tuple(loaded_crl(c) for c in crls))
        return check_chain([leaf.der], store, at=NOW, limits=limits).verdict

    assert verdict(stale, good) == "Success"  # a stale CRL beside a good one is not used
    assert verdict(old_revoking, good) == "Success"  # only the newest counts
    assert verdict(good, old_revoking, limits=AlbLimits(crl_selection="all")) == (
        "ClientCertCrlHit"
    )
    assert verdict(stale, good, limits=AlbLimits(crl_selection="all")) == (
        "ClientCertCrlProcessingError"
    )
    forged = make_crl(
        root, last_update=NOW - DAY / 2, signer=issue("Forger CA", ca=True, slot="forger")
    )
    assert verdict(good, forged) == "ClientCertCrlProcessingError"  # newest, so it is used


def test_two_roots_with_one_name_as_openssl_or_robustly() -> None:
    root = issue("Twin Root CA", ca=True, slot="twin-a")
    impostor = issue("Twin Root CA", ca=True, slot="twin-b")
    leaf = issue("Twin Client", root)
    store = TrustStore((impostor.cert, root.cert))  # no key identifiers to tell them apart
    result = check_chain([leaf.der], store, at=NOW)
    assert result.verdict == "ClientCertUntrusted"  # OpenSSL takes the first and fails it
    assert "does not verify" in result.findings[0].message
    robust = AlbLimits(issuer_by_signature=True)
    assert check_chain([leaf.der], store, at=NOW, limits=robust).ok
    assert check_chain([leaf.der], TrustStore((root.cert, impostor.cert)), at=NOW).ok


def test_a_crl_signed_by_a_ca_the_client_sent_is_used() -> None:
    root = issue("Sent Root CA", ca=True)
    mid = issue("Sent Issuing CA", root, ca=True)
    leaf = issue("Sent Client", mid, serial=0x1234)
    store = TrustStore((root.cert,), (loaded_crl(make_crl(mid, [0x1234])),))
    assert check_chain([leaf.der, mid.der], store, at=NOW).verdict == "ClientCertCrlHit"
    in_bundle = AlbLimits(crl_issuer_in_bundle=True)
    assert check_chain([leaf.der, mid.der], store, at=NOW, limits=in_bundle).verdict == (
        "ClientCertCrlProcessingError"
    )


def test_times_are_compared_in_whole_seconds() -> None:
    root = issue("Edge Root CA", ca=True)
    leaf = issue("Edge Client", root, not_after=NOW)
    later = NOW.replace(microsecond=0) + (DAY / 86400) / 2  # half a second after notAfter
    store = TrustStore((root.cert,))
    assert check_chain([leaf.der], store, at=later, limits=AlbLimits(not_after_inclusive=True)).ok
