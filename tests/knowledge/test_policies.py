"""The policy table: complete, consistent with the spec's tables, honest about its sources."""

from __future__ import annotations

import copy

import pytest

from mtls_doctor.knowledge import policies as pol
from mtls_doctor.knowledge.policies import (
    UnknownPolicyError,
    all_policies,
    find_policy,
    get_policy,
    normalize_cipher,
    normalize_protocol,
    policy_from_describe,
    table_problems,
)

# Cipher counts from spec §1.4 ("#" column), checked against AWS's "Policies by cipher".
SPEC_COUNTS = {
    "ELBSecurityPolicy-TLS13-1-3-2021-06": 3,
    "ELBSecurityPolicy-TLS13-1-2-2021-06": 11,
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": 7,
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": 21,
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": 15,
    "ELBSecurityPolicy-TLS13-1-1-2021-06": 21,
    "ELBSecurityPolicy-TLS13-1-0-2021-06": 21,
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": 18,
    "ELBSecurityPolicy-TLS-1-2-2017-01": 12,
    "ELBSecurityPolicy-TLS-1-1-2017-01": 18,
    "ELBSecurityPolicy-2016-08": 18,
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": 4,
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": 8,
    "ELBSecurityPolicy-FS-1-2-2019-08": 12,
    "ELBSecurityPolicy-FS-1-1-2019-08": 12,
    "ELBSecurityPolicy-FS-2018-06": 12,
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04": 2,
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04": 10,
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04": 6,
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04": 20,
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04": 14,
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04": 14,
    "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04": 20,
    "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04": 20,
}


def test_the_table_is_sound_and_complete() -> None:
    assert table_problems(pol.load_raw()) == ()
    names = [p.name for p in all_policies()]
    assert len(names) == 44 and len(set(names)) == 44
    assert "ELBSecurityPolicy-TLS13-1-1-PQ-2025-09" not in names  # exists in no list


@pytest.mark.parametrize(("name", "count"), sorted(SPEC_COUNTS.items()))
def test_aws_rows_match_the_spec_counts_and_are_verified(name: str, count: int) -> None:
    policy = get_policy(name)
    assert policy.ciphers is not None and len(policy.ciphers) == count
    assert policy.verified


def test_unverified_rows_say_where_they_come_from() -> None:
    unverified = {p.name: p for p in all_policies() if not p.verified}
    assert set(unverified) == {p.name for p in all_policies()} - set(SPEC_COUNTS)
    assert get_policy("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09").protocols_source == "moto"
    rfc = get_policy("ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP4-FIPS-2023-07")
    assert rfc.ciphers is None and rfc.ciphers_source == "unknown" and rfc.rfc9151 == "interop"
    assert rfc.to_dict()["ciphers"] is None and rfc.family == "rfc9151"
    ext1 = get_policy("ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09")
    assert ext1.ciphers_source == "inferred" and "UNCONFIRMED" in (ext1.note or "")


def test_fips_policies_never_offer_chacha_and_protocols_match_names() -> None:
    for policy in all_policies():
        if policy.fips and policy.ciphers is not None:
            assert "TLS_CHACHA20_POLY1305_SHA256" not in policy.ciphers, policy.name
        if "-1-3-" in policy.name:
            assert policy.tls13_only, policy.name
        if policy.rsa_key_exchange is not None and policy.ciphers is not None:
            has_rsa_kx = any(c.startswith(("AES128-", "AES256-")) for c in policy.ciphers)
            assert has_rsa_kx == policy.rsa_key_exchange, policy.name


def test_ciphers_keep_aws_priority_order_and_json_names_iana() -> None:
    policy = get_policy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
    assert policy.ciphers == (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    )
    data = policy.to_dict()
    assert data["schema_version"] == 1 and data["verified"] is True
    assert data["ciphers"][3] == {
        "openssl": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "iana": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "code": "c02b",
    }


def test_a_broken_table_is_reported_row_by_row() -> None:
    data = copy.deepcopy(pol.load_raw())
    data["policy"][0]["protocols"] = ["TLSv1.4"]
    data["policy"][1]["cipher_groups"] = ["T13", "NOPE"]
    data["policy"][2]["fips"] = True
    data["policy"][3]["ciphers_source"] = "blog"
    data["policy"].append(dict(data["policy"][4]))
    problems = " | ".join(table_problems(data))
    for text in ("TLSv1.4", "NOPE", "fips/pq flags", "ciphers_source", "duplicate row"):
        assert text in problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TLSv1.2", "TLSv1.2"),
        ("tlsv12", "TLSv1.2"),
        ("TLSv1_3", "TLSv1.3"),
        ("TLSv1", "TLSv1"),
        ("TLSv1.0", "TLSv1"),
        ("tlsv10", "TLSv1"),
        ("SSLv3", None),
        ("-", None),
    ],
)
def test_protocol_spellings(text: str, expected: str | None) -> None:
    assert normalize_protocol(text) == expected


def test_cipher_spellings() -> None:
    assert normalize_cipher("TLS_RSA_WITH_AES_128_CBC_SHA") == "AES128-SHA"
    assert normalize_cipher("0x002f") == "AES128-SHA"
    assert normalize_cipher("ecdhe-rsa-aes128-gcm-sha256") == "ECDHE-RSA-AES128-GCM-SHA256"
    assert normalize_cipher("DHE-RSA-AES128-SHA") == "DHE-RSA-AES128-SHA"


def test_lookup_forgives_case_and_prefix_and_names_the_nearest() -> None:
    name = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert get_policy("elbsecuritypolicy-tls13-1-2-2021-06").name == name
    assert get_policy("TLS13-1-2-2021-06").name == name
    with pytest.raises(UnknownPolicyError) as caught:
        get_policy("ELBSecurityPolicy-TLS13-1-2-2012-06")
    assert name in caught.value.message and int(caught.value.exit_code) == 2
    with pytest.raises(UnknownPolicyError, match="NLB-only"):
        get_policy("ELBSecurityPolicy-2015-05")
    with pytest.raises(UnknownPolicyError):
        find_policy("", all_policies())


def test_policy_from_describe_reads_aws_shapes() -> None:
    item = {
        "Name": "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
        "SslProtocols": ["TLSv1.2", "TLSv1.3"],
        "Ciphers": [
            {"Name": "ECDHE-RSA-AES128-GCM-SHA256", "Priority": 2},
            {"Name": "TLS_AES_128_GCM_SHA256", "Priority": 1},
        ],
    }
    policy = policy_from_describe(item)
    assert policy.protocols == ("TLSv1.3", "TLSv1.2")
    assert policy.ciphers == ("TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256")
    assert policy.fips and policy.pq and policy.verified and policy.source == "DescribeSSLPolicies"
