"""One header value to certificates: URL-decoding, form-decoder repair, PEM blocks."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

from cryptography import x509

from mtls_doctor.headers.model import (
    MAX_VALUE_CHARS,
    DecodedClientCert,
    HeaderDecodeError,
    PrivateKeyRefused,
)

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----(.*?)-----END \1-----", re.DOTALL)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_KEY = re.compile(r"PRIVATE(?:\s|%20|\+)+KEY", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE")


def as_text(value: str | bytes) -> str:
    """The value as stripped text; empty, binary or oversized values raise."""
    if isinstance(value, bytes):
        if len(value) > MAX_VALUE_CHARS:
            raise HeaderDecodeError(f"value too large ({len(value)} bytes) for a header")
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderDecodeError(
                "binary data, not a header value (not UTF-8 text)",
                hint="Give the header's text as the backend logged it.",
            ) from None
    if len(value) > MAX_VALUE_CHARS:
        raise HeaderDecodeError(f"value too large ({len(value)} characters) for a header")
    junk = _CONTROL.search(value)
    if junk:
        raise HeaderDecodeError(
            f"binary data, not a header value (control byte 0x{ord(junk.group()):02x} "
            f"at offset {junk.start()})",
            hint="Give the header's text as the backend logged it.",
        )
    text = value.strip()
    if not text:
        raise HeaderDecodeError(
            "empty value", hint="Give the header value, or - to read it from stdin."
        )
    return text


def refuse_private_key(text: str) -> None:
    """Raise :class:`PrivateKeyRefused` when ``text`` holds a key, URL-encoded or not."""
    if _KEY.search(text) or _KEY.search(unquote(text)):
        raise PrivateKeyRefused(
            "the value holds a private key: refused (not decoded, not shown)",
            hint="Give only the certificate header. A key that was pasted or shared should "
            "be replaced.",
        )


def _unescape(value: str, warnings: list[str]) -> tuple[str, str]:
    """(PEM-ish text, form) of one header value."""
    text = value.strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if "\n" not in text and "\\n" in text and not _PERCENT.search(text):
        text = text.replace("\\n", "\n")
        warnings.append("literal \\n sequences were read as line breaks (a JSON-escaped value?)")
    if _PERCENT.search(text):
        try:
            return unquote(text, errors="strict").replace("\r\n", "\n"), "url-encoded"
        except UnicodeDecodeError:
            raise HeaderDecodeError("the URL-encoded value is not UTF-8 text") from None
    return text.replace("\r\n", "\n"), "decoded"


def _der_of_block(body: str, number: int) -> tuple[x509.Certificate, bool, bool]:
    """(certificate, spaces repaired to '+', whitespace dropped) of one PEM body."""
    lines = [line.strip("\r\t") for line in body.split("\n")]
    # A form decoder made every '+' a space; a space can never be part of a base64 line,
    # so '+' is the only reading that keeps the line structure. Leading and trailing spaces
    # are kept on purpose: a line may begin or end with '+'.
    spaced = any(" " in line for line in lines)
    repaired = "".join(line.replace(" ", "+") for line in lines if line.strip())
    for candidate, was_repaired, dropped in (
        (repaired, spaced, False),
        ("".join(body.split()), False, spaced),
    ):
        cert = _parse_base64(candidate)
        if cert is not None:
            return cert, was_repaired, dropped
    raise HeaderDecodeError(
        f"certificate {number}: not valid base64 DER X.509, even after repairing spaces",
        hint="The value may be truncated (a 16 KB header limit?) or edited.",
    )


def _parse_base64(text: str) -> x509.Certificate | None:
    if not _BASE64.fullmatch(text):
        return None
    try:
        der = base64.b64decode(text, validate=True)
        cert = x509.load_der_x509_certificate(der)
        _ = (cert.subject, cert.issuer, cert.not_valid_after_utc)
    except (binascii.Error, ValueError):
        return None
    return cert


def _certificates(text: str, warnings: list[str]) -> tuple[tuple[x509.Certificate, ...], bool]:
    certs: list[x509.Certificate] = []
    repaired = False
    for match in _BLOCK.finditer(text):
        if match.group(1) not in _CERT_LABELS:
            warnings.append(f"skipped a {match.group(1)} block")
            continue
        cert, fixed, dropped = _der_of_block(match.group(2), len(certs))
        repaired = repaired or fixed
        if dropped:
            warnings.append(f"certificate {len(certs)}: whitespace inside it was ignored")
        certs.append(cert)
    return tuple(certs), repaired


def decode_value(value: str, warnings: list[str]) -> DecodedClientCert:
    """The certificates of one header value; ``warnings`` collects what had to be fixed."""
    text, form = _unescape(value, warnings)
    if "-----BEGIN" not in text:
        cert = _parse_base64("".join(text.split()))
        if cert is None:
            raise HeaderDecodeError(
                "no certificate found: expected URL-encoded or plain PEM "
                "(-----BEGIN CERTIFICATE-----)",
                hint="Give the X-Amzn-Mtls-Clientcert value, or the X-Amzn-Mtls-* header lines.",
            )
        warnings.append("bare base64 DER without PEM markers (not the ALB's format)")
        return DecodedClientCert((cert,), "base64-der", False, tuple(warnings))
    certs, repaired = _certificates(text, warnings)
    if not certs:
        raise HeaderDecodeError("no complete -----BEGIN/END CERTIFICATE----- block found")
    if repaired:
        warnings.insert(
            0,
            "repaired: spaces inside base64 lines were turned back into '+' (a form decoder "
            "such as unquote_plus damaged the value; decode it with unquote)",
        )
    return DecodedClientCert(certs, form, repaired, tuple(warnings))
