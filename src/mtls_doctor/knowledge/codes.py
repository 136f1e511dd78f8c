"""The ALB's documented ``tls_verify_status`` codes: the one list the whole tool uses.

Source: the connection-logs page, "Error reason codes" (spec §2). The catalogue in this
package must have an entry for each of them (a test enforces it).
"""

from __future__ import annotations

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
