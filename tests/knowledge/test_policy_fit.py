"""evaluate_handshake: the one answer to "would this policy refuse this logged handshake?"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtls_doctor.knowledge.policies import (
    PROTOCOLS,
    SecurityPolicy,
    all_policies,
    cipher_table,
    get_policy,
)
from mtls_doctor.knowledge.policy_fit import HandshakeFit, compare_with_snapshot, evaluate_handshake

TLS13_ONLY = get_policy("ELBSecurityPolicy-TLS13-1-3-2021-06")
LEGACY = get_policy("ELBSecurityPolicy-2016-08")
FIPS = get_policy("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04")
RFC_STRICT = get_policy("ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07")


def test_the_issue_examples() -> None:
    fit = evaluate_handshake(
        get_policy("ELBSecurityPolicy-TLS-1-2-2017-01"), "TLSv1.1", "AES128-SHA"
    )
    assert fit.refused is True
    assert fit.reasons == ("TLSv1.1 not offered", "cipher AES128-SHA not offered")
    assert fit.to_dict()["reason"] == "TLSv1.1 not offered; cipher AES128-SHA not offered"


def test_offered_pair_is_accepted_in_any_spelling() -> None:
    assert evaluate_handshake(LEGACY, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256").refused is False
    assert evaluate_handshake(LEGACY, "tlsv12", "TLS_RSA_WITH_AES_128_CBC_SHA").refused is False
    assert evaluate_handshake(LEGACY, "TLSv1.0", "AES128-SHA").refused is False


def test_protocol_or_cipher_alone_refuses() -> None:
    only_protocol = evaluate_handshake(TLS13_ONLY, "TLSv1.2", "TLS_AES_128_GCM_SHA256")
    assert only_protocol.refused and only_protocol.reasons == ("TLSv1.2 not offered",)
    only_cipher = evaluate_handshake(FIPS, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    assert only_cipher.reasons == ("cipher TLS_CHACHA20_POLY1305_SHA256 not offered",)
    unknown = evaluate_handshake(LEGACY, "SSLv3", "DHE-RSA-AES128-SHA")
    assert unknown.reasons == ("SSLv3 not offered", "cipher DHE-RSA-AES128-SHA not offered")


def test_unknown_cipher_list_is_not_guessed() -> None:
    undecided = evaluate_handshake(RFC_STRICT, "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert undecided.refused is None and "--live" in undecided.reasons[0]
    assert not undecided.verified
    by_protocol = evaluate_handshake(RFC_STRICT, "TLSv1.1", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert by_protocol.refused is True
    # The strict policies list no RSA key transport [3P], and FIPS has no ChaCha20 [INFERENCE].
    rsa = evaluate_handshake(RFC_STRICT, "TLSv1.2", "AES256-GCM-SHA384")
    assert rsa.refused is True and "inferred" in rsa.reasons[0]
    chacha = evaluate_handshake(RFC_STRICT, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
    assert chacha.refused is True


def test_not_tls_and_missing_cipher_are_undecided() -> None:
    assert evaluate_handshake(LEGACY, "-", "-").refused is None
    assert evaluate_handshake(LEGACY, "", "").reasons == ("not a TLS connection",)
    assert evaluate_handshake(LEGACY, "TLSv1.2", "-").refused is None
    assert evaluate_handshake(TLS13_ONLY, "TLSv1.2", "-").refused is True


CIPHERS = st.sampled_from(list(cipher_table()))
KNOWN = [p for p in all_policies() if p.ciphers is not None]


@given(st.sampled_from(KNOWN), st.sampled_from(PROTOCOLS), CIPHERS)
def test_refused_exactly_when_the_table_lacks_the_protocol_or_the_cipher(
    policy: SecurityPolicy, protocol: str, cipher: str
) -> None:
    fit = evaluate_handshake(policy, protocol, cipher)
    lacks_protocol = protocol not in policy.protocols
    lacks_cipher = cipher not in (policy.ciphers or ())
    assert fit.refused is (lacks_protocol or lacks_cipher)
    assert len(fit.reasons) == lacks_protocol + lacks_cipher


def test_compare_with_snapshot_reports_each_kind() -> None:
    base = get_policy("ELBSecurityPolicy-TLS13-1-2-2021-06")
    changed = dataclasses.replace(
        base, protocols=("TLSv1.3",), ciphers=(*(base.ciphers or ()), "NEW-CIPHER")
    )
    newcomer = dataclasses.replace(base, name="ELBSecurityPolicy-TLS13-1-2-New-2027-01")
    same = get_policy("ELBSecurityPolicy-2016-08")
    found = compare_with_snapshot([changed, newcomer, same], [base, same, TLS13_ONLY])
    kinds = [(d.name, d.kind) for d in found]
    assert kinds == [
        (base.name, "changed"),
        (newcomer.name, "only_live"),
        (TLS13_ONLY.name, "only_snapshot"),
    ]
    assert found[0].protocols_removed == ("TLSv1.2",) and found[0].ciphers_added == ("NEW-CIPHER",)
    assert "lacks protocols TLSv1.2" in found[0].summary()


@pytest.mark.parametrize("policy", all_policies(), ids=lambda p: p.name)
def test_every_policy_accepts_its_own_best_pair(policy: SecurityPolicy) -> None:
    if policy.ciphers is None:
        pytest.skip("cipher list unknown")
    best = policy.protocols[0]
    cipher = next(c for c in policy.ciphers if c.startswith("TLS_") == (best == "TLSv1.3"))
    assert evaluate_handshake(policy, best, cipher).refused is False


def test_the_docs_example_runs() -> None:
    text = (Path(__file__).parents[2] / "docs" / "policies.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(compile(code, "docs/policies.md", "exec"), scope)
    fit = scope["fit"]
    assert isinstance(fit, HandshakeFit) and fit.refused is True
    assert fit.reasons == ("TLSv1.1 not offered", "cipher AES128-SHA not offered")
