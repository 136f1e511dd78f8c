"""RFC 5280 §7.1 name matching, and chains that differ only in how a name is written.

A chain whose issuer or CRL issuer names are written with another string type, case or
spacing must get the same verdict as its exact twin, in every place names are compared.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from mtls_doctor.pki.names import (
    canonical_value,
    name_key,
    same_name,
    same_text,
    subject_matches,
    text_key,
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


def test_canonical_value_follows_openssl() -> None:
    assert canonical_value("  Foo \t\n BAR  baz ") == "foo bar baz"
    assert canonical_value("ÄÖ Straße") == "ÄÖ straße"  # only ASCII letters are folded
    assert canonical_value("a\u00a0b") == "a\u00a0b"  # a non-ASCII space is a character


@pytest.mark.parametrize("kind", sorted(VARIANTS))
def test_variants_are_the_same_name(kind: str) -> None:
    assert same_name(EXACT, VARIANTS[kind])
    assert EXACT.public_bytes() != VARIANTS[kind].public_bytes()


def test_names_that_differ_are_different() -> None:
    assert not same_name(EXACT, _name(("US", UTF8), ("Example Org", UTF8), ("Issuing CA2", UTF8)))
    # NumericString is not a type OpenSSL canonicalises: its bytes and tag count
    numeric = x509.Name(
        [x509.NameAttribute(NameOID.SERIAL_NUMBER, "123", _type=_ASN1Type.NumericString)]
    )
    printable = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "123", _type=PRINTABLE)])
    assert not same_name(numeric, printable)
    # attribute order across RDNs counts; order inside a multi-valued RDN does not
    a = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "x"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "y"),
                ]
            )
        ]
    )
    b = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Y"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "X"),
                ]
            )
        ]
    )
    assert same_name(a, b)
    flat = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "x"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "y"),
        ]
    )
    assert not same_name(a, flat)


def test_logged_subjects_match_their_certificate() -> None:
    cert_subject = _name(("US", PRINTABLE), ("Example Org", UTF8), ("client one", UTF8))
    assert subject_matches("CN=Client  One,O=EXAMPLE ORG,C=US", cert_subject)
    assert not subject_matches("CN=Client Two,O=Example Org,C=US", cert_subject)
    assert subject_matches(
        "CN=x,emailAddress=a@b.example",
        x509.Name.from_rfc4514_string("CN=x,1.2.840.113549.1.9.1=a@b.example"),
    )
    assert same_text("CN=a,O=b", "cn=A, o=B") and not same_text("CN=a", "CN=b")
    assert text_key("not a = = name ,,") == text_key("NOT a = = name ,,")  # unparsable text
    assert name_key(cert_subject) == text_key(cert_subject.rfc4514_string())
