"""Just enough DER walking to tell a certificate from a CRL from a PKCS#7 bundle.

``cryptography`` reads PKCS#7 certificates but not PKCS#7 CRLs (``openssl crl2pkcs7`` output),
so the SignedData fields are picked out here. Every problem is a ``ValueError``.
"""

from __future__ import annotations

_SEQUENCE = 0x30
_OID = 0x06
_TIMES = (0x17, 0x18)  # UTCTime, GeneralizedTime
_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the element at ``offset``."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise ValueError("indefinite length (BER) is not supported")
    else:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element offset, contents start, end) of each element in ``data[start:end]``."""
    items = []
    offset = start
    while offset < end:
        tag, body, stop = _tlv(data, offset)
        if stop > end:
            raise ValueError("element overruns its parent")
        items.append((tag, offset, body, stop))
        offset = stop
    return items


def classify(data: bytes) -> str:
    """``certificate``, ``crl`` or ``pkcs7`` for one DER SEQUENCE."""
    tag, body, end = _tlv(data, 0)
    if tag != _SEQUENCE or end != len(data):
        raise ValueError("not a single DER SEQUENCE")
    parts = _children(data, body, end)
    if not parts:
        raise ValueError("empty SEQUENCE")
    first_tag, _, first_body, first_end = parts[0]
    if first_tag == _OID:
        if data[first_body:first_end] == _SIGNED_DATA_OID:
            return "pkcs7"
        raise ValueError("PKCS#7 content that is not SignedData")
    if first_tag != _SEQUENCE:
        raise ValueError("unknown DER structure")
    inner = [t for t, *_ in _children(data, first_body, first_end)[:5]]
    return "crl" if any(t in _TIMES for t in inner) else "certificate"


def pkcs7_parts(data: bytes, which: int) -> list[bytes]:
    """The DER of each certificate (``which=0``) or CRL (``which=1``) in a SignedData."""
    if classify(data) != "pkcs7":
        raise ValueError("not PKCS#7 SignedData")
    _, body, end = _tlv(data, 0)
    outer = _children(data, body, end)
    if len(outer) < 2 or outer[1][0] != 0xA0:
        raise ValueError("SignedData content missing")
    _, _, explicit_body, explicit_end = outer[1]
    tag, signed_body, signed_end = _tlv(data, explicit_body)
    if tag != _SEQUENCE or signed_end > explicit_end:
        raise ValueError("SignedData is not a SEQUENCE")
    for field_tag, _, field_body, field_end in _children(data, signed_body, signed_end):
        if field_tag == 0xA0 + which:
            return [
                data[offset:stop] for _, offset, _, stop in _children(data, field_body, field_end)
            ]
    return []
