"""Client IP pseudonyms: stable within a key, whole addresses only."""

from __future__ import annotations

from mtls_doctor.bundle.redact import IpRedactor


def test_whole_addresses_only() -> None:
    r = IpRedactor(b"key")
    r.add(["10.0.0.1", "2001:db8::1", "not-an-ip", "10.0.0.0/24"])
    p = r.pseudonym("10.0.0.1")
    text = (
        "from 10.0.0.1, not 10.0.0.12 nor 110.0.0.1; v6 2001:db8::1 not 2001:db8::10. end 10.0.0.1."
    )
    out = r.apply(text)
    assert out.count(p) == 2 and "10.0.0.12" in out and "110.0.0.1" in out
    assert r.pseudonym("2001:db8::1") in out and "2001:db8::10" in out
    assert r.count == 2  # the CIDR and the word are not addresses


def test_stable_for_a_key_and_unlinkable_across_keys() -> None:
    assert IpRedactor(b"a").pseudonym("192.0.2.1") == IpRedactor(b"a").pseudonym("192.0.2.1")
    assert IpRedactor(b"a").pseudonym("192.0.2.1") != IpRedactor(b"b").pseudonym("192.0.2.1")
    assert IpRedactor().apply("192.0.2.1") == "192.0.2.1"  # nothing known, nothing replaced
