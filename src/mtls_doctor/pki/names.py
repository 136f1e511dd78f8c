"""Distinguished names compared as RFC 5280 §7.1 and OpenSSL compare them: the one rule.

Two names are the same when their *canonical encodings* are equal, the encoding OpenSSL's
``X509_NAME_cmp`` uses (``x509_name_canon``): every value of a string type (UTF8String,
PrintableString, IA5String, VisibleString, T61String, BMPString, UniversalString) becomes
UTF-8, leading and trailing white space goes, each inner run of white space becomes one
space, and ASCII letters are lower-cased; other types (NumericString, BIT STRING ...) keep
their tag and bytes. The entries of a multi-valued RDN are compared as a set.

So a leaf whose issuer is written as PrintableString ``Issuing  CA`` is issued by a CA whose
subject is the UTF8String ``issuing ca``, as OpenSSL (and so, we assume, the ALB) decides.
Every place the engine compares names uses :func:`name_key`: path building, the CRL issuer,
the authority key identifier's issuer name, and matching log rows to certificates.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import NameOID

from mtls_doctor.pki._der import _children, _tlv

_UTF8 = 0x0C
# tag -> codec of the ASN.1 string types OpenSSL canonicalises (ASN1_MASK_CANON)
_CANON_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String (OpenSSL reads it as Latin-1)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}
_SPACE = frozenset(" \t\n\v\f\r")  # ossl_isspace


def canonical_value(text: str) -> str:
    """Trim, collapse white space runs to one space, lower-case ASCII letters."""
    out: list[str] = []
    pending_space = False
    for char in text.strip("".join(_SPACE)):
        if char in _SPACE:
            pending_space = True
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        out.append(char.lower() if char.isascii() else char)
    return "".join(out)


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _wrap(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _entry(der: bytes, start: int, end: int) -> bytes:
    """The canonical encoding of one AttributeTypeAndValue (contents ``der[start:end]``)."""
    parts = _children(der, start, end)
    if len(parts) != 2:
        raise ValueError("an attribute is not (type, value)")
    (_, oid_at, _, oid_end), (tag, _, body, value_end) = parts
    value = der[body:value_end]
    codec = _CANON_CODECS.get(tag)
    if codec is not None:
        value = canonical_value(value.decode(codec)).encode()
        tag = _UTF8
    return _wrap(0x30, der[oid_at:oid_end] + _wrap(tag, value))


@lru_cache(maxsize=4096)
def _key_of_der(der: bytes) -> bytes:
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("a name is not a SEQUENCE")
    out = []
    for set_tag, _, set_start, set_end in _children(der, start, end):
        if set_tag != 0x31:
            raise ValueError("an RDN is not a SET")
        entries = sorted(_entry(der, s, e) for _, _, s, e in _children(der, set_start, set_end))
        out.append(_wrap(0x31, b"".join(entries)))
    return b"".join(out)


def name_key(name: x509.Name) -> bytes:
    """The canonical encoding of ``name``: equal keys mean the same name (X509_NAME_cmp).

    A value that cannot be decoded keeps its raw encoding (prefixed so that it equals
    nothing canonical), as OpenSSL's canonicalisation fails and the names then differ.
    """
    der = name.public_bytes()
    try:
        return _key_of_der(der)
    except (ValueError, UnicodeDecodeError):
        return b"\x00raw" + der


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """True when ``a`` and ``b`` are the same distinguished name (see the module docstring)."""
    return name_key(a) == name_key(b)


def self_issued(cert: x509.Certificate) -> bool:
    """Subject and issuer are the same name."""
    return same_name(cert.subject, cert.issuer)


# Attribute names OpenSSL prints (``-nameopt RFC2253``) that RFC 4514 parsers do not know.
_TEXT_NAMES = {
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "GN": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
    "title": NameOID.TITLE,
    "initials": NameOID.INITIALS,
    "pseudonym": NameOID.PSEUDONYM,
    "dnQualifier": NameOID.DN_QUALIFIER,
    "businessCategory": NameOID.BUSINESS_CATEGORY,
    "postalCode": NameOID.POSTAL_CODE,
    "jurisdictionC": NameOID.JURISDICTION_COUNTRY_NAME,
    "jurisdictionST": NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME,
    "jurisdictionL": NameOID.JURISDICTION_LOCALITY_NAME,
}


_KNOWN_TYPES = {
    name.upper(): name
    for name in ("CN", "C", "O", "OU", "L", "ST", "STREET", "DC", "UID", *_TEXT_NAMES)
}
_SEPARATOR = re.compile(r"(?<!\\)([,+])")


def _tidy(text: str) -> str:
    """``cn = x, o = y`` -> ``CN=x,O=y``: the spacing and case of attribute names that
    OpenSSL's other print formats use, which RFC 4514 parsers refuse."""
    out = []
    for part in _SEPARATOR.split(text):
        if part in (",", "+"):
            out.append(part)
            continue
        kind, equals, value = part.partition("=")
        if not equals:
            raise ValueError(f"no '=' in {part!r}")
        kind = kind.strip()
        out.append(f"{_KNOWN_TYPES.get(kind.upper(), kind)}={value.strip()}")
    return "".join(out)


def text_key(text: str) -> bytes:
    """:func:`name_key` of a name written as text (RFC 4514/2253, as the ALB logs subjects).

    Text that does not parse as a name is compared by its canonical form as a whole, so a
    subject logged in an unexpected layout still matches itself (UNCONFIRMED, spec §1.4:
    AWS does not say how the log escapes a DN).
    """
    try:
        return name_key(x509.Name.from_rfc4514_string(_tidy(text), _TEXT_NAMES))
    except ValueError:
        return b"\x00text" + canonical_value(text).encode()


def subject_matches(text: str, name: x509.Name) -> bool:
    """True when the logged subject ``text`` is the certificate name ``name``."""
    return text_key(text) == name_key(name)


def same_text(a: str, b: str) -> bool:
    """True when two names written as text are the same name."""
    return text_key(a) == text_key(b)
