"""The ALB's documented ``tls_verify_status`` codes: the one list the whole tool uses.

Source: the connection-logs page, "Error reason codes" (spec §2). The catalogue in this
package must have an entry for each of them (a test enforces it).
"""

from __future__ import annotations

import difflib
import re

SUCCESS = "Success"
NOT_TLS = "-"
FAILED_PREFIX = "Failed:"

# In AWS's order. ClientCertIncompatible only appears in the newest copy of the page.
DOCUMENTED_CODES: tuple[str, ...] = (
    "ClientCertMaxChainDepthExceeded",
    "ClientCertMaxSizeExceeded",
    "ClientCertCrlHit",
    "ClientCertCrlProcessingError",
    "ClientCertUntrusted",
    "ClientCertNotYetValid",
    "ClientCertExpired",
    "ClientCertTypeUnsupported",
    "ClientCertInvalid",
    "ClientCertPurposeInvalid",
    "ClientCertRejected",
    "UnmappedConnectionError",
    "ClientCertIncompatible",
)

_BY_LOWER = {code.lower(): code for code in DOCUMENTED_CODES}

# What ``--status`` takes besides a code: the verify result of a connection.
STATUS_WORDS = {
    "success": "success",
    "failed": "failed",
    "not-tls": "not_tls",
    "not_tls": "not_tls",
}


def normalize_code(text: str) -> str | None:
    """Return the documented spelling of ``text`` (with or without ``Failed:``, any case).

    ``Success`` and ``-`` are returned as themselves; anything else unknown gives ``None``.
    """
    value = text.strip()
    if value.lower().startswith(FAILED_PREFIX.lower()):
        value = value[len(FAILED_PREFIX) :]
    if value.lower() == SUCCESS.lower():
        return SUCCESS
    if value == NOT_TLS:
        return NOT_TLS
    return _BY_LOWER.get(value.lower())


def is_documented(code: str) -> bool:
    """True for one of the 13 documented failure codes (exact spelling)."""
    return code in DOCUMENTED_CODES


def looks_like_code(text: str) -> bool:
    """``ClientCertSomethingNew``: the shape of a code AWS may add (letters and digits, an
    upper-case start, some lower case)."""
    return text.isalnum() and text[:1].isupper() and any(c.islower() for c in text)


def nearest_statuses(text: str, n: int = 3) -> tuple[str, ...]:
    """The valid ``--status`` values nearest to ``text`` (spelling, or a word of a code)."""
    value = text.strip()
    if value.lower().startswith(FAILED_PREFIX.lower()):
        value = value[len(FAILED_PREFIX) :]
    lowered = value.lower().replace("_", "-")
    names = ("success", "failed", "not-tls", *DOCUMENTED_CODES)
    by_lower = {name.lower(): name for name in names}
    near = difflib.get_close_matches(lowered, list(by_lower), n=n, cutoff=0.7)
    if len(lowered) >= 4:  # "expired" -> ClientCertExpired, "revoked" is not a word of a code
        near += [low for low in by_lower if lowered in low and low not in near]
        near += [low for low in _codes_by_word(lowered) if low not in near]  # "expird"
    return tuple(by_lower[low] for low in near[:n])


def _codes_by_word(word: str) -> list[str]:
    """Codes (lower case) with a word spelled close to ``word``: "expird" -> Expired."""
    words: dict[str, list[str]] = {}
    for code in DOCUMENTED_CODES:
        for part in re.findall(r"[A-Z][a-z]+", code):
            if len(part) >= 4:  # "Cert" and "Crl" are in many codes: no use as a hint
                words.setdefault(part.lower(), []).append(code.lower())
    close = difflib.get_close_matches(word, list(words), n=2, cutoff=0.8)
    return [code for match in close for code in words[match]]
