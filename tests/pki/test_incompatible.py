"""ClientCertIncompatible: which inferred hypotheses fit a leaf under a policy."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from mtls_doctor.knowledge.catalogue import get_entry
from mtls_doctor.knowledge.policies import get_policy
from mtls_doctor.pki.incompatible import HYPOTHESIS_IDS, incompatibility_hypotheses
from tests.pki.pkihelpers import StandardPki, issue

STANDARD = "ELBSecurityPolicy-TLS13-1-2-2021-06"
FIPS = "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04"
RFC_STRICT = "ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07"
RFC_INTEROP = "ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP4-FIPS-2023-07"
TLS12 = "ELBSecurityPolicy-TLS-1-2-2017-01"
TLS13_ONLY = "ELBSecurityPolicy-TLS13-1-3-2021-06"


def ids(leaf_key: str, policy: str, digest: hashes.HashAlgorithm | None = None) -> list[str]:
    pki = StandardPki.build("Incompat")
    leaf = issue(f"Incompat {leaf_key}", pki.intermediate, key_kind=leaf_key, digest=digest)
    fit = incompatibility_hypotheses(leaf.cert, get_policy(policy))
    return [h.id for h in fit.hypotheses]


@pytest.mark.parametrize(
    ("leaf_key", "policy", "digest", "expected"),
    [
        ("ec256", STANDARD, None, []),
        ("ec256", TLS12, None, []),
        ("ec256", RFC_STRICT, None, ["rfc9151-key", "rfc9151-signature"]),
        ("ec384", RFC_STRICT, hashes.SHA384(), []),
        ("rsa3072", RFC_STRICT, hashes.SHA384(), []),
        ("rsa2048", RFC_INTEROP, hashes.SHA384(), ["rfc9151-key"]),
        ("rsa2048", STANDARD, None, []),
        ("rsa2048", TLS12, None, []),
        ("rsa2048", TLS13_ONLY, None, ["tls13-rsa-pss"]),
        ("ec521", FIPS, None, ["curve-p521"]),
        ("ec521", STANDARD, None, []),
    ],
)
def test_hypotheses_fit_only_where_they_should(
    leaf_key: str, policy: str, digest: hashes.HashAlgorithm | None, expected: list[str]
) -> None:
    assert ids(leaf_key, policy, digest) == expected


def test_fips_rsa_size_and_labelling() -> None:
    pki = StandardPki.build("Incompat")
    # An unusual RSA size is only buildable through the rsa prefix of make_key.
    leaf = issue("Incompat odd RSA", pki.intermediate, key_kind="rsa2560")
    fit = incompatibility_hypotheses(leaf.cert, get_policy(FIPS))
    assert [h.id for h in fit.hypotheses] == ["fips-rsa-size"]
    data = fit.to_dict()
    assert data["inferred"] is True and "inferred" in data["label"]
    assert all(h["inferred"] and h["confirm"] and h["command"] for h in data["hypotheses"])
    assert data["leaf_key"] == "RSA 2560" and data["family"] == "fips"


def test_interop_policies_say_they_are_less_likely() -> None:
    pki = StandardPki.build("Incompat")
    fit = incompatibility_hypotheses(pki.leaf.cert, get_policy(RFC_INTEROP))
    assert "less likely" in fit.hypotheses[0].why


def test_the_explain_entry_names_every_hypothesis_as_inferred() -> None:
    entry = get_entry("ClientCertIncompatible")
    for hypothesis_id in HYPOTHESIS_IDS:
        cause = next(c for c in entry.causes if f"[{hypothesis_id}]" in c)
        assert cause.startswith("Inferred")
    assert any(s.command and "--policy" in s.command for s in entry.steps)
