"""ALB TLS security policies: the bundled snapshot (``policies.toml``), typed and checked.

Every row carries where its protocols and ciphers come from (``aws``, ``moto``,
``third-party``, ``inferred``, ``unknown``); only ``aws`` rows are ``verified``. Live data
from ``DescribeSSLPolicies`` is turned into the same :class:`SecurityPolicy` by
:func:`policy_from_describe` (the boto3 call itself is in :mod:`mtls_doctor.aws.ssl_policies`).

In Python::

    from mtls_doctor.knowledge.policies import get_policy
    get_policy("ELBSecurityPolicy-TLS13-1-2-2021-06").protocols
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from mtls_doctor.errors import MtlsDoctorError, UsageError

SOURCES: tuple[str, ...] = ("aws", "moto", "third-party", "inferred", "unknown", "live")
PROTOCOLS: tuple[str, ...] = ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1")
NAME_PREFIX = "ELBSecurityPolicy-"
_RESOURCE = "policies.toml"
_NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Log style (TLSv1.2), DescribeSSLPolicies style (TLSv1) and NLB access-log style (tlsv12)
# all name the same four protocols (spec §1.5); keys are lower-case without "_" or ".".
_PROTOCOL_SPELLINGS = {
    "tlsv13": "TLSv1.3",
    "tlsv12": "TLSv1.2",
    "tlsv11": "TLSv1.1",
    "tlsv1": "TLSv1",
    "tlsv10": "TLSv1",
}


class PolicyDataError(MtlsDoctorError):
    """The packaged policy table is missing or inconsistent (a packaging bug)."""


class UnknownPolicyError(UsageError):
    """A policy name that is not in the table (exit 2, with the nearest names)."""


@dataclass(frozen=True)
class Cipher:
    """One cipher suite: OpenSSL name (as AWS and the logs write it), IANA name, code point."""

    openssl: str
    iana: str
    code: str

    def to_dict(self) -> dict[str, str]:
        """``{"openssl", "iana", "code"}``."""
        return {"openssl": self.openssl, "iana": self.iana, "code": self.code}


@dataclass(frozen=True)
class SecurityPolicy:
    """One listener security policy; ``ciphers`` is None when the list is not known."""

    name: str
    protocols: tuple[str, ...]
    ciphers: tuple[str, ...] | None
    fips: bool
    pq: bool
    rfc9151: str | None  # "strict", "interop" or None
    protocols_source: str
    ciphers_source: str
    source: str
    note: str | None = None
    rsa_key_exchange: bool | None = None
    legacy: bool = False

    @property
    def verified(self) -> bool:
        """True when both lists come from AWS (its table, or DescribeSSLPolicies)."""
        trusted = ("aws", "live")
        return self.protocols_source in trusted and self.ciphers_source in trusted

    @property
    def tls13_only(self) -> bool:
        """True when TLS 1.3 is the only protocol offered."""
        return self.protocols == ("TLSv1.3",)

    @property
    def family(self) -> str:
        """``rfc9151``, ``fips``, ``pq`` or ``standard``: what ClientCertIncompatible asks."""
        if self.rfc9151:
            return "rfc9151"
        return "fips" if self.fips else ("pq" if self.pq else "standard")

    def offers_protocol(self, protocol: str) -> bool:
        return protocol in self.protocols

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ciphers with their IANA names and codes (``schema_version`` 1)."""
        table = cipher_table()
        return {
            "schema_version": 1,
            "name": self.name,
            "protocols": list(self.protocols),
            "ciphers": None
            if self.ciphers is None
            else [table[c].to_dict() if c in table else {"openssl": c} for c in self.ciphers],
            "fips": self.fips,
            "pq": self.pq,
            "rfc9151": self.rfc9151,
            "family": self.family,
            "legacy": self.legacy,
            "rsa_key_exchange": self.rsa_key_exchange,
            "verified": self.verified,
            "protocols_source": self.protocols_source,
            "ciphers_source": self.ciphers_source,
            "source": self.source,
            "note": self.note,
        }


def normalize_protocol(text: str) -> str | None:
    """``TLSv1.2``, ``tlsv12``, ``TLSv1_2``, ``TLSv1.0`` ... to AWS's spelling, else None."""
    key = text.strip().lower().replace(".", "").replace("_", "")
    return _PROTOCOL_SPELLINGS.get(key)


def normalize_cipher(text: str) -> str:
    """The OpenSSL name of ``text`` (IANA names and 4-digit hex codes are translated)."""
    value = text.strip()
    lookup = _cipher_aliases()
    return lookup.get(value.lower(), value)


# --- loading and checking ------------------------------------------------------------------


def load_raw() -> dict[str, Any]:
    """The table as parsed from the packaged TOML, unchecked."""
    try:
        text = resources.files(__package__).joinpath(_RESOURCE).read_text(encoding="utf-8")
        return tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyDataError(
            f"cannot read the packaged {_RESOURCE}: {error}",
            hint="Reinstall mtls-doctor; the package data is missing or damaged.",
        ) from error


def _row_problems(row: Mapping[str, Any], groups: Mapping[str, Any]) -> list[str]:
    name = str(row.get("name", "?"))
    problems = []
    if not name.startswith(NAME_PREFIX):
        problems.append(f"{name}: name must start with {NAME_PREFIX}")
    protocols = row.get("protocols")
    if not isinstance(protocols, list) or not protocols:
        problems.append(f"{name}: protocols missing")
    else:
        problems += [f"{name}: unknown protocol {p!r}" for p in protocols if p not in PROTOCOLS]
    for field in ("protocols_source", "ciphers_source"):
        if row.get(field) not in SOURCES:
            problems.append(f"{name}: {field} must be one of {', '.join(SOURCES)}")
    has_groups = "cipher_groups" in row
    if has_groups == (row.get("ciphers_source") == "unknown"):
        problems.append(f"{name}: cipher_groups must be given exactly when ciphers are known")
    problems += [
        f"{name}: unknown cipher group {g!r}"
        for g in row.get("cipher_groups", [])
        if g not in groups
    ]
    if row.get("rfc9151") not in (None, "strict", "interop"):
        problems.append(f"{name}: rfc9151 must be strict or interop")
    if ("FIPS" in name) != bool(row.get("fips")) or ("-PQ-" in name) != bool(row.get("pq")):
        problems.append(f"{name}: the fips/pq flags disagree with the name")
    return problems


def table_problems(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Every problem in raw table ``data``; empty when it is sound."""
    ciphers = {c.get("openssl") for c in data.get("cipher", [])}
    groups = data.get("cipher_groups", {})
    problems = [
        f"cipher group {g}: unknown cipher {c!r}"
        for g, members in groups.items()
        for c in members
        if c not in ciphers
    ]
    seen: set[str] = set()
    for row in data.get("policy", []):
        problems += _row_problems(row, groups)
        if row.get("name") in seen:
            problems.append(f"{row.get('name')}: duplicate row")
        seen.add(str(row.get("name")))
    if not seen:
        problems.append("no [[policy]] rows")
    return tuple(problems)


def _expand(groups: Mapping[str, Sequence[str]], names: Sequence[str]) -> tuple[str, ...]:
    wanted = {c for g in names for c in groups[g]}
    return tuple(c for c in cipher_table() if c in wanted)  # AWS's priority order


def _build(row: Mapping[str, Any], groups: Mapping[str, Sequence[str]]) -> SecurityPolicy:
    return SecurityPolicy(
        name=row["name"],
        protocols=tuple(p for p in PROTOCOLS if p in row["protocols"]),
        ciphers=_expand(groups, row["cipher_groups"]) if "cipher_groups" in row else None,
        fips=bool(row["fips"]),
        pq=bool(row["pq"]),
        rfc9151=row.get("rfc9151"),
        protocols_source=row["protocols_source"],
        ciphers_source=row["ciphers_source"],
        source=row["source"],
        note=row.get("note"),
        rsa_key_exchange=row.get("rsa_key_exchange"),
        legacy=bool(row.get("legacy", False)),
    )


@cache
def cipher_table() -> Mapping[str, Cipher]:
    """OpenSSL name -> :class:`Cipher`, in AWS's priority order."""
    return {c["openssl"]: Cipher(c["openssl"], c["iana"], c["code"]) for c in load_raw()["cipher"]}


@cache
def _cipher_aliases() -> Mapping[str, str]:
    aliases: dict[str, str] = {}
    for cipher in cipher_table().values():
        aliases[cipher.openssl.lower()] = cipher.openssl
        aliases[cipher.iana.lower()] = cipher.openssl
        aliases[f"0x{int(cipher.code, 16):04x}"] = cipher.openssl
    return aliases


@cache
def _snapshot() -> tuple[Mapping[str, SecurityPolicy], Mapping[str, str], str]:
    data = load_raw()
    problems = table_problems(data)
    if problems:
        raise PolicyDataError(
            f"policy table has {len(problems)} problem(s): " + "; ".join(problems),
            hint="Fix src/mtls_doctor/knowledge/policies.toml.",
        )
    groups = data["cipher_groups"]
    rows = {r["name"]: _build(r, groups) for r in data["policy"]}
    return rows, dict(data.get("not_alb", {})), str(data["snapshot"])


def all_policies() -> tuple[SecurityPolicy, ...]:
    """Every policy of the snapshot, in table order."""
    return tuple(_snapshot()[0].values())


def snapshot_date() -> str:
    """When the snapshot was compiled (ISO date)."""
    return _snapshot()[2]


def nearest_names(name: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The names most like ``name`` (a typo, a missing prefix, another case)."""
    lowered = {x.lower(): x for x in names}
    wanted = name.strip().lower()
    if not wanted.startswith(NAME_PREFIX.lower()):
        wanted = NAME_PREFIX.lower() + wanted
    found = difflib.get_close_matches(wanted, list(lowered), n=n, cutoff=0.6)
    return [lowered[x] for x in found]


def find_policy(name: str, policies: Sequence[SecurityPolicy]) -> SecurityPolicy:
    """``name`` among ``policies``: exact, then any case, then with the prefix added.

    Raises :class:`UnknownPolicyError` naming the nearest policies.
    """
    by_lower = {p.name.lower(): p for p in policies}
    wanted = name.strip().lower()
    match = by_lower.get(wanted) or by_lower.get(NAME_PREFIX.lower() + wanted)
    if match is not None:
        return match
    if not _NAME_SHAPE.fullmatch(name.strip()):
        # Not echoed: it may be anything pasted by mistake, a private key included.
        raise UnknownPolicyError(
            f"not a security policy name ({len(name)} characters of something else; not shown)",
            hint="'mtls-doctor policy list' shows every policy.",
        )
    printable = name.strip()
    other = _snapshot()[1].get(printable)
    if other:
        raise UnknownPolicyError(
            f"{printable!r} is not an ALB policy: {other}",
            hint="'mtls-doctor policy list' shows the ALB policies.",
        )
    near = nearest_names(name, [p.name for p in policies])
    detail = f"; nearest: {', '.join(near)}" if near else ""
    raise UnknownPolicyError(
        f"unknown security policy {printable!r}{detail}",
        hint="'mtls-doctor policy list' shows every policy.",
    )


def get_policy(name: str) -> SecurityPolicy:
    """The snapshot's policy ``name`` (see :func:`find_policy`)."""
    return find_policy(name, all_policies())


def policy_from_describe(item: Mapping[str, Any]) -> SecurityPolicy:
    """A policy from one ``DescribeSSLPolicies`` ``SslPolicies`` item (flags from the name,
    which AWS does not return separately)."""
    name = str(item.get("Name", ""))
    protocols = [normalize_protocol(str(p)) or str(p) for p in item.get("SslProtocols", [])]
    ranked = sorted(item.get("Ciphers", []), key=lambda c: int(c.get("Priority", 0)))
    known = _snapshot()[0].get(name)
    return SecurityPolicy(
        name=name,
        protocols=tuple(sorted(protocols, key=_protocol_rank)),
        ciphers=tuple(normalize_cipher(str(c.get("Name", ""))) for c in ranked),
        fips="FIPS" in name,
        pq="-PQ-" in name,
        rfc9151=known.rfc9151 if known else _rfc9151_of(name),
        protocols_source="live",
        ciphers_source="live",
        source="DescribeSSLPolicies",
        note=None,
        rsa_key_exchange=None,
        legacy=known.legacy if known else False,
    )


def _protocol_rank(protocol: str) -> int:
    return PROTOCOLS.index(protocol) if protocol in PROTOCOLS else len(PROTOCOLS)


def _rfc9151_of(name: str) -> str | None:
    if "RFC9151" not in name:
        return None
    return "interop" if "INTEROP" in name else "strict"
