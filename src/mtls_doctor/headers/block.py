"""A pasted block of ``X-Amzn-Mtls-*: value`` lines: find the certificate, cross-check the rest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import unquote

from cryptography import x509

from mtls_doctor.headers.model import (
    ISSUER_HEADER,
    LEAF_HEADER,
    PASSTHROUGH_HEADER,
    SERIAL_HEADER,
    SUBJECT_HEADER,
    VALIDITY_HEADER,
    DecodedClientCert,
    HeaderDecodeError,
    HeaderMismatch,
)
from mtls_doctor.headers.value import decode_value
from mtls_doctor.pki.inspect import format_serial, format_time

_HEADER_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,99})[ \t]*:[ \t]*(.*)")
_VALIDITY = re.compile(r"NotBefore=([^;]+);NotAfter=(\S+)")
_CERT_HEADERS = (PASSTHROUGH_HEADER.lower(), LEAF_HEADER.lower())


def header_lines(text: str) -> list[tuple[str, str]] | None:
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
    leaf = decode_value(leaf_value, []).leaf
    if leaf == decoded.leaf:
        return ()
    return (
        HeaderMismatch(
            LEAF_HEADER,
            leaf.subject.rfc4514_string(),
            f"{PASSTHROUGH_HEADER} leaf {decoded.leaf.subject.rfc4514_string()}",
        ),
    )


def decode_block(headers: list[tuple[str, str]], warnings: list[str]) -> DecodedClientCert:
    name, value = _pick_certificate_header(headers, warnings)
    decoded = decode_value(value, warnings)
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
