"""The client-certificate header as a backend receives it: decode, repair, cross-check.

In passthrough mode the ALB sends the client's whole chain in ``X-Amzn-Mtls-Clientcert``
(verify mode: the leaf in ``X-Amzn-Mtls-Clientcert-Leaf``) as URL-encoded PEM with ``+=/``
left as they are (spec §3; AWS's own example escapes ``=`` as ``%3D``: both are accepted).
:func:`decode_client_cert` takes the value in any form a backend or a proxy may hand on:

- raw, URL-encoded (decoded with ``unquote``, never ``unquote_plus``);
- already URL-decoded PEM;
- damaged by a form decoder that turned every ``+`` into a space: a space cannot occur inside
  a base64 line, so it is turned back into ``+`` (``repaired`` is then True);
- a pasted block of ``X-Amzn-Mtls-*: value`` lines: the serial, subject, issuer and validity
  headers are then checked against the certificate (a mismatch means something rewrote them).

A value holding a private key is refused without being decoded or echoed. This module loads
neither DuckDB nor boto3, so a backend can depend on it cheaply::

    from mtls_doctor.headers import decode_client_cert
    chain = decode_client_cert(environ["HTTP_X_AMZN_MTLS_CLIENTCERT"]).certificates

It does not verify the chain: in passthrough mode that is the backend's job.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.errors import InputError
from mtls_doctor.pki.inspect import describe_chain, format_serial, format_time

PASSTHROUGH_HEADER = "X-Amzn-Mtls-Clientcert"
SERIAL_HEADER = "X-Amzn-Mtls-Clientcert-Serial-Number"
ISSUER_HEADER = "X-Amzn-Mtls-Clientcert-Issuer"
SUBJECT_HEADER = "X-Amzn-Mtls-Clientcert-Subject"
VALIDITY_HEADER = "X-Amzn-Mtls-Clientcert-Validity"
LEAF_HEADER = "X-Amzn-Mtls-Clientcert-Leaf"
MAX_VALUE_CHARS = 1024 * 1024  # the ALB's whole request header is 64 KB; be generous

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----(.*?)-----END \1-----", re.DOTALL)
_HEADER_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,99})[ \t]*:[ \t]*(.*)")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_KEY = re.compile(r"PRIVATE(?:\s|%20|\+)+KEY", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_VALIDITY = re.compile(r"NotBefore=([^;]+);NotAfter=(\S+)")
_CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE")


class HeaderDecodeError(InputError):
    """The value is not a client-certificate header in any form we know (exit 3)."""


class PrivateKeyRefused(HeaderDecodeError):
    """The value holds a private key: refused, never decoded, never shown."""


@dataclass(frozen=True)
class HeaderMismatch:
    """A verify-mode header that disagrees with the certificate it travels with."""

    header: str
    header_value: str
    certificate_value: str

    def to_dict(self) -> dict[str, str]:
        """``{"header", "header_value", "certificate_value"}``."""
        return {
            "header": self.header,
            "header_value": self.header_value,
            "certificate_value": self.certificate_value,
        }


@dataclass(frozen=True)
class DecodedClientCert:
    """The chain a header carried (leaf first) and how it had to be read."""

    certificates: tuple[x509.Certificate, ...]
    form: str  # "url-encoded", "decoded" or "base64-der"
    repaired: bool
    warnings: tuple[str, ...] = ()
    header_block: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # the X-Amzn-Mtls-* lines of a pasted block
    mismatches: tuple[HeaderMismatch, ...] = ()

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def ders(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(Encoding.DER) for c in self.certificates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``schema_version`` 1; shape in docs/headers.md)."""
        summaries = describe_chain(self.certificates, self.ders)
        return {
            "schema_version": 1,
            "form": self.form,
            "header_block": self.header_block,
            "repaired": self.repaired,
            "certificates": [
                {
                    "index": s.index,
                    "subject": s.subject,
                    "issuer": s.issuer,
                    "serial_number": s.serial,
                    "not_before": format_time(s.not_before),
                    "not_after": format_time(s.not_after),
                    "key_type": s.key_type,
                    "key_bits": s.key_bits,
                    "curve": s.curve,
                    "signature_algorithm": s.signature_algorithm,
                    "sha256": s.sha256,
                    "signed_by": s.signed_by,
                }
                for s in summaries
            ],
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "mismatches": [m.to_dict() for m in self.mismatches],
            "warnings": list(self.warnings),
        }


# --- reading the value ---------------------------------------------------------------------


def _as_text(value: str | bytes) -> str:
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


def _refuse_private_key(text: str) -> None:
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
        cert, fixed, dropped = _der_of_block(match.group(2), len(certs))  # 0: the leaf
        repaired = repaired or fixed
        if dropped:
            warnings.append(f"certificate {len(certs)}: whitespace inside it was ignored")
        certs.append(cert)
    return tuple(certs), repaired


def _decode_value(value: str, warnings: list[str]) -> DecodedClientCert:
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


# --- a pasted block of header lines ----------------------------------------------------------


def _header_lines(text: str) -> list[tuple[str, str]] | None:
    """``Name: value`` pairs of a pasted block (None when ``text`` is a bare value).

    A line that is not ``Name: value`` continues the previous value: a decoded PEM pasted
    under its header name spans several lines (base64 never holds a colon).
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0].startswith("-") or not _HEADER_LINE.fullmatch(lines[0]):
        return None
    pairs: list[list[str]] = []
    for line in lines:
        match = None if line.startswith("-----") else _HEADER_LINE.fullmatch(line)
        if match is not None:
            pairs.append([match.group(1), match.group(2).strip()])
        else:
            pairs[-1][1] += "\n" + line
    return [(name, value) for name, value in pairs]


def _pick_certificate_header(
    headers: Sequence[tuple[str, str]], warnings: list[str]
) -> tuple[str, str]:
    by_name = {n.lower(): (n, v) for n, v in headers}
    for wanted in (PASSTHROUGH_HEADER, LEAF_HEADER):
        if wanted.lower() in by_name:
            return by_name[wanted.lower()]
    for name, value in headers:
        if "BEGIN" in unquote(value) and "CERTIFICATE" in unquote(value):
            warnings.append(f"took the certificate from {name} (renamed by a listener attribute?)")
            return name, value
    raise HeaderDecodeError(
        f"the header lines hold no certificate ({PASSTHROUGH_HEADER} or {LEAF_HEADER})",
        hint="Paste the certificate header too, or give its value alone.",
    )


def _dn_key(text: str) -> tuple[str, ...]:
    parts = re.split(r"(?<!\\),", text)
    key = []
    for part in parts:
        attr, _, value = part.strip().partition("=")
        key.append(f"{attr.strip().upper()}={value.strip()}")
    return tuple(key)


def _same_dn(header_value: str, name: x509.Name) -> bool:
    ours = name.rfc4514_string()
    if header_value == ours or _dn_key(header_value) == _dn_key(ours):
        return True
    try:
        return x509.Name.from_rfc4514_string(header_value).rfc4514_string() == ours
    except ValueError:
        return False


def _same_serial(header_value: str, serial: int) -> bool:
    text = header_value.strip().replace(":", "")
    try:
        return int(text, 16) == serial  # compare numbers: leading zeros are UNCONFIRMED
    except ValueError:
        return False


def _same_validity(header_value: str, cert: x509.Certificate) -> bool:
    match = _VALIDITY.fullmatch(header_value.strip())
    if not match:
        return False
    try:
        before, after = (datetime.fromisoformat(g) for g in match.groups())
    except ValueError:
        return False
    return (before, after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)


def _mismatches(
    headers: Sequence[tuple[str, str]], decoded: DecodedClientCert
) -> tuple[HeaderMismatch, ...]:
    leaf = decoded.leaf
    checks = {
        SERIAL_HEADER.lower(): (
            lambda v: _same_serial(v, leaf.serial_number),
            format_serial(leaf.serial_number),
        ),
        SUBJECT_HEADER.lower(): (
            lambda v: _same_dn(v, leaf.subject),
            leaf.subject.rfc4514_string(),
        ),
        ISSUER_HEADER.lower(): (lambda v: _same_dn(v, leaf.issuer), leaf.issuer.rfc4514_string()),
        VALIDITY_HEADER.lower(): (
            lambda v: _same_validity(v, leaf),
            f"NotBefore={format_time(leaf.not_valid_before_utc)};"
            f"NotAfter={format_time(leaf.not_valid_after_utc)}",
        ),
    }
    found = []
    for name, value in headers:
        check = checks.get(name.lower())
        if check is not None and not check[0](value):
            found.append(HeaderMismatch(name, value, check[1]))
    return tuple(found)


def _leaf_mismatch(
    headers: Sequence[tuple[str, str]], chosen: str, decoded: DecodedClientCert
) -> tuple[HeaderMismatch, ...]:
    leaf_value = next((v for n, v in headers if n.lower() == LEAF_HEADER.lower()), None)
    if leaf_value is None or chosen.lower() == LEAF_HEADER.lower():
        return ()
    leaf = _decode_value(leaf_value, []).leaf
    if leaf == decoded.leaf:
        return ()
    return (
        HeaderMismatch(
            LEAF_HEADER,
            leaf.subject.rfc4514_string(),
            f"{PASSTHROUGH_HEADER} leaf {decoded.leaf.subject.rfc4514_string()}",
        ),
    )


def _decode_block(headers: list[tuple[str, str]], warnings: list[str]) -> DecodedClientCert:
    name, value = _pick_certificate_header(headers, warnings)
    decoded = _decode_value(value, warnings)
    mtls = tuple((n, v) for n, v in headers if n.lower().startswith("x-amzn-mtls-"))
    mismatches = _mismatches(headers, decoded) + _leaf_mismatch(headers, name, decoded)
    for mismatch in mismatches:
        warnings.append(
            f"{mismatch.header} does not match the certificate "
            f"({mismatch.header_value!r} vs {mismatch.certificate_value!r}): "
            "something between the ALB and here rewrote it"
        )
    return DecodedClientCert(
        decoded.certificates,
        decoded.form,
        decoded.repaired,
        tuple(warnings),
        header_block=True,
        headers=tuple((n, v) for n, v in mtls if n.lower() not in _CERT_HEADERS),
        mismatches=mismatches,
    )


_CERT_HEADERS = (PASSTHROUGH_HEADER.lower(), LEAF_HEADER.lower())


def decode_client_cert(value: str | bytes) -> DecodedClientCert:
    """The certificates (leaf first) in a client-certificate header value, in any form.

    Raises :class:`HeaderDecodeError` (an :class:`~mtls_doctor.errors.InputError`) with one
    line saying what is wrong, and :class:`PrivateKeyRefused` when the value holds a key.
    """
    text = _as_text(value)
    _refuse_private_key(text)
    warnings: list[str] = []
    headers = _header_lines(text)
    if headers is not None:
        return _decode_block(headers, warnings)
    return _decode_value(text, warnings)
