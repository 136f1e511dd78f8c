"""Client IP pseudonyms for ``support-bundle --redact-ips``.

A pseudonym is ``client-`` plus 10 hex digits of an HMAC of the address. With a random key per
bundle (the default) the same address gets the same pseudonym everywhere in one bundle, and
two bundles cannot be linked; an unkeyed hash of an IPv4 address would be trivially reversed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable


class IpRedactor:
    """Replaces known client addresses in text with stable pseudonyms."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._known: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def pseudonym(self, address: str) -> str:
        digest = hmac.new(self._key, address.encode("ascii", "replace"), hashlib.sha256)
        return "client-" + digest.hexdigest()[:10]

    def add(self, addresses: Iterable[str]) -> None:
        for raw in addresses:
            text = str(raw).strip()
            try:
                ipaddress.ip_address(text)
            except ValueError:
                continue  # not an address (a CIDR filter, "-", ...): nothing to hide
            if text not in self._known:
                self._known[text] = self.pseudonym(text)
                self._pattern = None

    @property
    def count(self) -> int:
        return len(self._known)

    def _compiled(self) -> re.Pattern[str] | None:
        if not self._known:
            return None
        if self._pattern is None:
            # Longest first, and not inside a longer address or number: 10.0.0.1 must not
            # match in 10.0.0.12, nor ::1 inside fe80::1.
            names = sorted(self._known, key=len, reverse=True)
            body = "|".join(re.escape(n) for n in names)
            self._pattern = re.compile(rf"(?<![\w.:])({body})(?![\w:]|\.\d)")
        return self._pattern

    def apply(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(lambda m: self._known[m.group(1)], text)
