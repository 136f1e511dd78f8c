"""check_chain: one case per ALB code, each with a near-miss that must pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import hashes

from mtls_doctor.knowledge.codes import DOCUMENTED_CODES
from mtls_doctor.pki.limits import ASSUMPTIONS, PRECEDENCE, AlbLimits
from mtls_doctor.pki.verdict import ChainVerdict, TrustStore, check_chain
from tests.pki.pkihelpers import (
    CLIENT_AUTH,
    DAY,
    NOW,
    SERVER_AUTH,
    StandardPki,
    issue,
    loaded_crl,
    make_crl,
    v1_certificate,
)


@dataclass(frozen=True)
class Case:
    chain: list[bytes]
    store: TrustStore
    limits: AlbLimits = field(default_factory=AlbLimits)
    ignore_expiry: bool = False

    def run(self) -> ChainVerdict:
        return check_chain(
            self.chain, self.store, at=NOW, ignore_expiry=self.ignore_expiry, limits=self.limits
        )


def _leaf_case(p: StandardPki, **options: object) -> Case:
    leaf = issue("Case Client", p.intermediate, **options)  # type: ignore[arg-type]
    return Case([leaf.der, p.intermediate.der], p.trust_store())


def _root_leaf_with_crl(p: StandardPki, revoke: bool, **crl_options: object) -> Case:
    leaf = issue("Revocable Client", p.root, serial=0x0ABC)
    crl = make_crl(p.root, [0xABC if revoke else 0xABD], **crl_options)  # type: ignore[arg-type]
    return Case([leaf.der], p.trust_store([crl]))


def _deep(p: StandardPki, intermediates: int) -> Case:
    cas = [p.root]
    for level in range(intermediates):
        cas.append(issue(f"Deep CA {level}", cas[-1], ca=True))
    leaf = issue("Deep Client", cas[-1])
    return Case([leaf.der, *(c.der for c in reversed(cas[1:]))], p.trust_store())


Builder = Callable[[StandardPki], Case]
# (expected code, failing case, near-miss that must give Success)
CASES: dict[str, tuple[str, Builder, Builder]] = {
    "untrusted-root": (
        "ClientCertUntrusted",
        lambda p: Case(p.chain_ders(), StandardPki.build("Other").trust_store()),
        lambda p: Case(p.chain_ders(), p.trust_store()),
    ),
    "missing-intermediate": (
        "ClientCertUntrusted",
        lambda p: Case([p.leaf.der], p.trust_store()),
        lambda p: Case([p.leaf.der], TrustStore((p.root.cert, p.intermediate.cert))),
    ),
    "bad-signature": (
        "ClientCertUntrusted",
        lambda p: Case(
            [
                issue(
                    "Forged",
                    StandardPki.build("Forger").intermediate,
                    issuer_name=p.intermediate.cert.subject,
                ).der,
                p.intermediate.der,
            ],
            p.trust_store(),
        ),
        lambda p: _leaf_case(p),
    ),
    "issuer-not-ca": (
        "ClientCertUntrusted",
        lambda p: (lambda mid: Case([issue("Sub", mid).der, mid.der], p.trust_store()))(
            issue("Not A CA", p.root, ca=False, key_usage="cert_sign")
        ),
        lambda p: (lambda mid: Case([issue("Sub", mid).der, mid.der], p.trust_store()))(
            issue("Real CA", p.root, ca=True)
        ),
    ),
    "expired": (
        "ClientCertExpired",
        lambda p: _leaf_case(p, not_after=NOW - DAY),
        lambda p: _leaf_case(p, not_after=NOW + DAY),
    ),
    "expired-ignored": (
        "ClientCertExpired",
        lambda p: _leaf_case(p, not_after=NOW - DAY),
        lambda p: Case(
            _leaf_case(p, not_after=NOW - DAY).chain, p.trust_store(), ignore_expiry=True
        ),
    ),
    "not-yet-valid": (
        "ClientCertNotYetValid",
        lambda p: _leaf_case(p, not_before=NOW + DAY),
        lambda p: _leaf_case(p, not_before=NOW - DAY),
    ),
    "purpose": (
        "ClientCertPurposeInvalid",
        lambda p: _leaf_case(p, eku=(SERVER_AUTH,)),
        lambda p: _leaf_case(p, eku=(SERVER_AUTH, CLIENT_AUTH)),
    ),
    "purpose-key-usage": (
        "ClientCertPurposeInvalid",
        lambda p: _leaf_case(p, key_usage="none"),
        lambda p: _leaf_case(p, eku=None),
    ),
    "rsa-1024": (
        "ClientCertTypeUnsupported",
        lambda p: _leaf_case(p, key_kind="rsa1024"),
        lambda p: _leaf_case(p, key_kind="rsa2048"),
    ),
    "curve-p224": (
        "ClientCertTypeUnsupported",
        lambda p: _leaf_case(p, key_kind="ec224"),
        lambda p: _leaf_case(p, key_kind="ec521"),
    ),
    "ed25519": (
        "ClientCertTypeUnsupported",
        lambda p: _leaf_case(p, key_kind="ed25519"),
        lambda p: _leaf_case(p, key_kind="ec384"),
    ),
    "sha224-signature": (
        "ClientCertTypeUnsupported",
        lambda p: _leaf_case(p, digest=hashes.SHA224()),
        lambda p: _leaf_case(p, digest=hashes.SHA512()),
    ),
    "x509-v1": (
        "ClientCertTypeUnsupported",
        lambda p: Case(
            [v1_certificate("Old", p.intermediate), p.intermediate.der], p.trust_store()
        ),
        lambda p: _leaf_case(p),
    ),
    "invalid-der": (
        "ClientCertInvalid",
        lambda p: Case([p.leaf.der[:-7], p.intermediate.der], p.trust_store()),
        lambda p: Case(p.chain_ders(), p.trust_store()),
    ),
    "crl-hit": (
        "ClientCertCrlHit",
        lambda p: _root_leaf_with_crl(p, True),
        lambda p: _root_leaf_with_crl(p, False),
    ),
    "crl-past-next-update": (
        "ClientCertCrlProcessingError",
        lambda p: _root_leaf_with_crl(p, False, next_update=NOW - DAY, last_update=NOW - 8 * DAY),
        lambda p: _root_leaf_with_crl(p, False, next_update=NOW + DAY),
    ),
    "crl-bad-signature": (
        "ClientCertCrlProcessingError",
        lambda p: _root_leaf_with_crl(p, False, signer=StandardPki.build("Forger").root),
        lambda p: _root_leaf_with_crl(p, False, signer=p.root),
    ),
    "too-deep": (
        "ClientCertMaxChainDepthExceeded",
        lambda p: _deep(p, 3),
        lambda p: _deep(p, 2),
    ),
    "certificate-too-big": (
        "ClientCertMaxSizeExceeded",
        lambda p: _leaf_case(p, padding_bytes=17 * 1024),
        lambda p: _leaf_case(p, padding_bytes=15 * 1024),
    ),
    "message-too-big": (
        "ClientCertMaxSizeExceeded",
        lambda p: Case(p.chain_ders(), p.trust_store(), AlbLimits(max_tls_message_bytes=600)),
        lambda p: Case(p.chain_ders(), p.trust_store(), AlbLimits(max_tls_message_bytes=2000)),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_and_near_miss(pki: StandardPki, name: str) -> None:
    code, failing, passing = CASES[name]
    bad = failing(pki).run()
    assert bad.verdict == code, [f.message for f in bad.findings]
    assert any(f.code == code and f.severity == "error" for f in bad.findings)
    assert all(f.fix for f in bad.findings if f.severity == "error")
    good = passing(pki).run()
    assert good.verdict == "Success", [f.message for f in good.findings]
    assert not [f for f in good.findings if f.severity == "error"]


def test_every_predictable_code_has_a_case() -> None:
    covered = {code for code, _, _ in CASES.values()}
    assert covered == set(PRECEDENCE)
    assert set(PRECEDENCE) <= set(DOCUMENTED_CODES)


def test_all_findings_are_kept_and_precedence_decides(pki: StandardPki) -> None:
    result = _leaf_case(pki, not_after=NOW - DAY, eku=(SERVER_AUTH,)).run()
    codes = [f.code for f in result.findings]
    assert "ClientCertExpired" in codes and "ClientCertPurposeInvalid" in codes
    assert result.verdict == "ClientCertPurposeInvalid"  # purpose comes before validity
    later = AlbLimits(
        check_order="precedence", precedence=("ClientCertExpired", "ClientCertPurposeInvalid")
    )
    case = _leaf_case(pki, not_after=NOW - DAY, eku=(SERVER_AUTH,))
    assert check_chain(case.chain, case.store, at=NOW, limits=later).verdict == "ClientCertExpired"


def test_ignore_expiry_keeps_an_info_finding_but_not_for_not_yet_valid(pki: StandardPki) -> None:
    result = Case(
        _leaf_case(pki, not_after=NOW - DAY).chain, pki.trust_store(), ignore_expiry=True
    ).run()
    assert [(f.code, f.severity) for f in result.findings] == [("ClientCertExpired", "info")]
    future = _leaf_case(pki, not_before=NOW + DAY)
    assert check_chain(future.chain, future.store, at=NOW, ignore_expiry=True).verdict == (
        "ClientCertNotYetValid"
    )
    covers = AlbLimits(ignore_expiry_covers_not_yet_valid=True)
    assert check_chain(future.chain, future.store, at=NOW, ignore_expiry=True, limits=covers).ok


def test_expired_intermediate_counts(pki: StandardPki) -> None:
    mid = issue("Old Mid", pki.root, ca=True, not_after=NOW - DAY)
    leaf = issue("Leaf Of Old Mid", mid)
    result = check_chain([leaf.der, mid.der], pki.trust_store(), at=NOW)
    assert result.verdict == "ClientCertExpired"
    assert result.findings[0].certificate == 1


def test_empty_chain_gives_the_documented_assumption(pki: StandardPki) -> None:
    assert check_chain([], pki.trust_store(), at=NOW).verdict == "ClientCertUntrusted"
    limits = AlbLimits(empty_chain_code="ClientCertInvalid")
    assert check_chain([], pki.trust_store(), at=NOW, limits=limits).verdict == "ClientCertInvalid"


def test_depth_counting_modes(pki: StandardPki) -> None:
    case = _deep(pki, 2)  # leaf + 2 intermediates + root = 4 on the path, 3 sent
    assert case.run().ok
    strict = AlbLimits(max_chain_depth=3)
    assert check_chain(case.chain, case.store, at=NOW, limits=strict).verdict == (
        "ClientCertMaxChainDepthExceeded"
    )
    lenient = AlbLimits(max_chain_depth=3, chain_depth_counts="presented")
    assert check_chain(case.chain, case.store, at=NOW, limits=lenient).ok


def test_crl_of_an_unrelated_ca_is_only_a_warning(pki: StandardPki) -> None:
    other = StandardPki.build("Elsewhere")
    stale = make_crl(other.root, [], next_update=NOW - DAY, last_update=NOW - 8 * DAY)
    store = TrustStore((pki.root.cert,), (loaded_crl(stale),))
    result = check_chain(pki.chain_ders(), store, at=NOW)
    assert result.ok
    assert [(f.code, f.severity) for f in result.findings] == [
        ("ClientCertCrlProcessingError", "warning")
    ]


def test_der_crl_is_a_processing_error(pki: StandardPki) -> None:
    leaf = issue("DER CRL Client", pki.root)
    store = TrustStore((pki.root.cert,), (loaded_crl(make_crl(pki.root), pem=False),))
    assert check_chain([leaf.der], store, at=NOW).verdict == "ClientCertCrlProcessingError"


def test_serial_compare_is_numeric(pki: StandardPki) -> None:
    leaf = issue("Padded Serial", pki.root, serial=0x00ABC)
    store = pki.trust_store([make_crl(pki.root, [2748])])  # 0xABC
    result = check_chain([leaf.der], store, at=NOW)
    assert result.verdict == "ClientCertCrlHit"
    assert "0ABC" in result.findings[0].message


def test_to_dict_shape(pki: StandardPki) -> None:
    data = check_chain(pki.chain_ders(), pki.trust_store(), at=NOW).to_dict()
    assert data["schema_version"] == 1
    assert {"verdict", "findings", "chain", "path", "limits"} <= set(data)
    assert [link["source"] for link in data["path"]] == ["chain", "chain", "trust_store"]


def test_every_unconfirmed_setting_is_listed() -> None:
    names = {a.setting for a in ASSUMPTIONS}
    fields = set(AlbLimits.__dataclass_fields__)
    assert names - {"SERIAL_BYTE_PADDED"} <= fields


def test_fast_enough_for_the_listener(pki: StandardPki) -> None:
    import time

    store = pki.trust_store([make_crl(pki.root)])
    chain = pki.chain_ders()
    start = time.perf_counter()
    for _ in range(50):
        check_chain(chain, store, at=NOW)
    assert (time.perf_counter() - start) / 50 < 0.02


def test_rsa_pss_signatures_are_supported() -> None:
    root = issue("PSS Root", ca=True, key_kind="rsa2048", pss=True)
    leaf = issue("PSS Client", root, pss=True, digest=hashes.SHA384())
    result = check_chain([leaf.der], TrustStore((root.cert,)), at=NOW)
    assert result.ok, [f.message for f in result.findings]
    weak = issue("PSS-224 Client", root, pss=True, digest=hashes.SHA224())
    assert check_chain([weak.der], TrustStore((root.cert,)), at=NOW).verdict == (
        "ClientCertTypeUnsupported"
    )


def test_every_setting_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "certificates.md").read_text()
    missing = [name for name in AlbLimits.__dataclass_fields__ if f"`{name}`" not in doc]
    assert not missing
