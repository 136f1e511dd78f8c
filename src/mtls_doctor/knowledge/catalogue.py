"""The reason-code catalogue: one explanation per ``tls_verify_status`` value.

The text lives in ``catalogue.toml`` (package data) so that it can be reviewed as prose and
checked as data. This module loads it once, checks it (:func:`validate_catalogue`) and hands
out frozen :class:`CatalogueEntry` objects. Rendering is in :mod:`mtls_doctor.report.explain`.

In Python::

    from mtls_doctor.knowledge.catalogue import get_entry
    get_entry("Failed:ClientCertExpired").fix_summary
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.knowledge.codes import (
    DOCUMENTED_CODES,
    FAILED_PREFIX,
    NOT_TLS,
    SUCCESS,
    normalize_code,
)
from mtls_doctor.knowledge.fields import FIELD_NAMES

UNKNOWN = "unknown"
SPECIAL_KEYS: tuple[str, ...] = (SUCCESS, NOT_TLS, UNKNOWN)
ORDER: tuple[str, ...] = DOCUMENTED_CODES + SPECIAL_KEYS

STEP_KINDS: tuple[str, ...] = ("confirm", "fix")
WHO_ACTS: tuple[str, ...] = (
    "client owner",
    "trust-store owner",
    "AWS support",
    "application owner",
    "network/platform owner",
)
# Log fields plus the two columns the parser derives from leaf_client_cert_validity.
EVIDENCE_FIELDS: tuple[str, ...] = (*FIELD_NAMES, "not_before", "not_after")
# The spellings of our own commands that a step may cite; a typo here would send a user to a
# command that does not exist, so the validator insists on one of these prefixes.
OUR_COMMANDS: tuple[str, ...] = (
    "mtls-doctor logs query ",
    "mtls-doctor ingest ",
    "mtls-doctor diagnose ",
    "mtls-doctor cert inspect ",
    "mtls-doctor cert check ",
    "mtls-doctor trust-store check ",
    "mtls-doctor aws listener ",
    "mtls-doctor aws trust-store fetch ",
    "mtls-doctor aws connection-logs ",
    "mtls-doctor probe ",
    "mtls-doctor support-bundle ",
    "mtls-doctor sandbox ",
    "mtls-doctor pki scenarios ",
    "mtls-doctor explain ",
)
LINK_PREFIXES: tuple[str, ...] = (
    "https://docs.aws.amazon.com/",
    "https://docs.amazonaws.cn/",
    "https://repost.aws/",
)
_ENTRY_TEXT = ("key", "title", "meaning", "fix_summary")
_ENTRY_LISTS = ("causes", "evidence_fields", "who_acts", "links", "unconfirmed", "steps")
_STEP_FIELDS = ("kind", "action", "command", "openssl")
_RESOURCE = "catalogue.toml"


class CatalogueError(MtlsDoctorError):
    """The packaged catalogue is missing, unreadable or incomplete (a packaging bug)."""


@dataclass(frozen=True)
class Link:
    """An AWS documentation page."""

    title: str
    url: str

    def to_dict(self) -> dict[str, str]:
        """``{"title", "url"}``."""
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True)
class Step:
    """One numbered step: what to do, our command for it and the openssl/shell equivalent."""

    kind: str  # "confirm" or "fix"
    action: str
    command: str | None
    openssl: str | None  # may hold several commands, one per line

    @property
    def openssl_lines(self) -> tuple[str, ...]:
        """The equivalent as separate commands, for renderers that prefix each with ``$``."""
        return tuple(self.openssl.splitlines()) if self.openssl else ()

    def to_dict(self) -> dict[str, str | None]:
        """``{"kind", "action", "command", "openssl"}``; absent commands are ``null``."""
        return {
            "kind": self.kind,
            "action": self.action,
            "command": self.command,
            "openssl": self.openssl,
        }


@dataclass(frozen=True)
class NearMatch:
    """A code that an unknown value may have been meant as, or where it really comes from."""

    code: str
    source: str  # e.g. "ALB (similar spelling)" or "CloudFront connection logs"
    note: str

    def to_dict(self) -> dict[str, str]:
        """``{"code", "source", "note"}``."""
        return {"code": self.code, "source": self.source, "note": self.note}


@dataclass(frozen=True)
class CatalogueEntry:
    """What one status value means, what causes it and how to confirm and fix it."""

    key: str
    title: str
    meaning: str
    causes: tuple[str, ...]
    evidence_fields: tuple[str, ...]
    steps: tuple[Step, ...]
    who_acts: tuple[str, ...]
    links: tuple[Link, ...]
    fix_summary: str
    unconfirmed: tuple[str, ...]
    # Only for the "unknown" entry: the value asked about (without "Failed:") and hints.
    given_code: str | None = None
    near_matches: tuple[NearMatch, ...] = ()

    @property
    def documented(self) -> bool:
        """True for the 13 documented failure codes."""
        return self.key in DOCUMENTED_CODES

    @property
    def log_value(self) -> str | None:
        """The ``tls_verify_status`` text that carries this entry, or None for "unknown"."""
        if self.documented:
            return FAILED_PREFIX + self.key
        return None if self.key == UNKNOWN else self.key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``schema_version`` 1); steps carry their 1-based number."""
        return {
            "schema_version": 1,
            "key": self.key,
            "title": self.title,
            "documented": self.documented,
            "log_value": self.log_value,
            "meaning": self.meaning,
            "causes": list(self.causes),
            "evidence_fields": list(self.evidence_fields),
            "steps": [{"number": n, **s.to_dict()} for n, s in enumerate(self.steps, 1)],
            "who_acts": list(self.who_acts),
            "links": [link.to_dict() for link in self.links],
            "fix_summary": self.fix_summary,
            "unconfirmed": list(self.unconfirmed),
            "given_code": self.given_code,
            "near_matches": [m.to_dict() for m in self.near_matches],
        }


# --- validation ----------------------------------------------------------------------------


def _text_ok(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _step_problems(where: str, step: object) -> list[str]:
    if not isinstance(step, Mapping):
        return [f"{where}: a step must be a table"]
    problems = [f"{where}: unknown field {k!r}" for k in step if k not in _STEP_FIELDS]
    if step.get("kind") not in STEP_KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(STEP_KINDS)}")
    if not _text_ok(step.get("action")):
        problems.append(f"{where}: action is missing or empty")
    for name in ("command", "openssl"):
        if name in step and not _text_ok(step[name]):
            problems.append(f"{where}: {name} is empty (leave it out instead)")
    command = step.get("command")
    if isinstance(command, str) and not command.startswith(OUR_COMMANDS):
        problems.append(f"{where}: command {command!r} is not one of our mtls-doctor commands")
    return problems


def _field_problems(key: str, entry: Mapping[str, Any], links: Mapping[str, Any]) -> list[str]:
    problems = [
        f"{key}: {name} is missing or empty"
        for name in _ENTRY_TEXT
        if not _text_ok(entry.get(name))
    ]
    for name in _ENTRY_LISTS:
        value = entry.get(name)
        if not isinstance(value, list) or not value:
            problems.append(f"{key}: {name} is missing or empty")
        elif name != "steps" and not all(_text_ok(item) for item in value):
            problems.append(f"{key}: {name} has an empty or non-text item")
    known = set(_ENTRY_TEXT) | set(_ENTRY_LISTS)
    problems += [f"{key}: unknown field {name!r}" for name in entry if name not in known]
    if "\n" in str(entry.get("fix_summary", "")):
        problems.append(f"{key}: fix_summary must be one line")
    problems += [
        f"{key}: unknown evidence field {f!r}"
        for f in _items(entry, "evidence_fields")
        if f not in EVIDENCE_FIELDS
    ]
    problems += [
        f"{key}: unknown who_acts {w!r}" for w in _items(entry, "who_acts") if w not in WHO_ACTS
    ]
    problems += [f"{key}: unknown link id {i!r}" for i in _items(entry, "links") if i not in links]
    return problems


def _items(entry: Mapping[str, Any], name: str) -> list[Any]:
    value = entry.get(name)
    return value if isinstance(value, list) else []


def _step_set_problems(key: str, steps: list[Any]) -> list[str]:
    problems: list[str] = []
    for n, step in enumerate(steps, 1):
        problems += _step_problems(f"{key}: step {n}", step)
    tables = [s for s in steps if isinstance(s, Mapping)]
    for kind in STEP_KINDS:
        if not any(s.get("kind") == kind for s in tables):
            problems.append(f"{key}: needs at least one {kind!r} step")
    if not any("command" in s for s in tables):
        problems.append(f"{key}: no step cites an mtls-doctor command")
    if key in DOCUMENTED_CODES and not any("openssl" in s for s in tables):
        problems.append(f"{key}: no step gives an openssl/shell equivalent")
    return problems


def _link_problems(links: object) -> list[str]:
    if not isinstance(links, Mapping) or not links:
        return ["[links] table is missing or empty"]
    problems: list[str] = []
    for link_id, link in links.items():
        if not isinstance(link, Mapping) or not _text_ok(link.get("title")):
            problems.append(f"link {link_id}: title is missing or empty")
        elif not str(link.get("url", "")).startswith(LINK_PREFIXES):
            problems.append(f"link {link_id}: url must be an AWS documentation page")
    return problems


def catalogue_problems(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Every problem in raw catalogue ``data`` (as parsed from TOML); empty when it is sound."""
    problems = _link_problems(data.get("links"))
    raw_links = data.get("links")
    links: Mapping[str, Any] = raw_links if isinstance(raw_links, Mapping) else {}
    raw_entries = data.get("entry")
    if not isinstance(raw_entries, list):
        return (*problems, "no [[entry]] tables")
    seen: list[str] = []
    for n, entry in enumerate(raw_entries, 1):
        if not isinstance(entry, Mapping):
            problems.append(f"entry {n}: must be a table")
            continue
        key = str(entry.get("key") or f"entry {n}")
        if key not in ORDER:
            problems.append(f"{key}: not a documented code (nor Success, -, unknown)")
        if key in seen:
            problems.append(f"{key}: duplicate entry")
        seen.append(key)
        problems += _field_problems(key, entry, links)
        problems += _step_set_problems(key, _items(entry, "steps"))
    problems += [f"{key}: no entry" for key in ORDER if key not in seen]
    return tuple(problems)


def load_raw() -> dict[str, Any]:
    """The catalogue as parsed from the packaged TOML file, unchecked."""
    try:
        text = resources.files(__package__).joinpath(_RESOURCE).read_text(encoding="utf-8")
        return tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CatalogueError(
            f"cannot read the packaged {_RESOURCE}: {error}",
            hint="Reinstall mtls-doctor; the package data is missing or damaged.",
        ) from error


def validate_catalogue(data: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`CatalogueError` listing every problem in ``data`` (default: packaged)."""
    problems = catalogue_problems(load_raw() if data is None else data)
    if problems:
        raise CatalogueError(
            f"reason-code catalogue has {len(problems)} problem(s): " + "; ".join(problems),
            hint="Fix src/mtls_doctor/knowledge/catalogue.toml.",
        )


# --- building and lookup -------------------------------------------------------------------


def _build_entry(raw: Mapping[str, Any], links: Mapping[str, Any]) -> CatalogueEntry:
    steps = tuple(
        Step(
            kind=s["kind"],
            action=s["action"].strip(),
            command=s.get("command"),
            openssl=s["openssl"].strip() if "openssl" in s else None,
        )
        for s in raw["steps"]
    )
    return CatalogueEntry(
        key=raw["key"],
        title=raw["title"],
        meaning=raw["meaning"],
        causes=tuple(raw["causes"]),
        evidence_fields=tuple(raw["evidence_fields"]),
        steps=steps,
        who_acts=tuple(raw["who_acts"]),
        links=tuple(Link(links[i]["title"], links[i]["url"]) for i in raw["links"]),
        fix_summary=raw["fix_summary"],
        unconfirmed=tuple(raw["unconfirmed"]),
    )


@dataclass(frozen=True)
class _Catalogue:
    entries: Mapping[str, CatalogueEntry]
    foreign: Mapping[str, Mapping[str, str]]  # lower-case code -> {code, source, closest, note}


@cache
def _catalogue() -> _Catalogue:
    data = load_raw()
    validate_catalogue(data)
    built = {e["key"]: _build_entry(e, data["links"]) for e in data["entry"]}
    foreign = {str(f["code"]).lower(): f for f in data.get("foreign", [])}
    return _Catalogue(entries={k: built[k] for k in ORDER}, foreign=foreign)


def all_entries() -> tuple[CatalogueEntry, ...]:
    """Every entry: the documented codes in AWS's order, then Success, ``-`` and unknown."""
    return tuple(_catalogue().entries.values())


def _strip_prefix(text: str) -> str:
    value = text.strip()
    if value.lower().startswith(FAILED_PREFIX.lower()):
        return value[len(FAILED_PREFIX) :]
    return value


def near_matches(code: str) -> tuple[NearMatch, ...]:
    """Where an unknown ``code`` may come from, and documented codes it resembles."""
    value = _strip_prefix(code)
    lowered = value.lower()
    foreign = _catalogue().foreign.get(lowered)
    if foreign is not None:
        matches = [NearMatch(foreign["code"], foreign["source"], foreign["note"])]
        if foreign.get("closest"):
            note = "the nearest ALB code (our inference)"
            matches.append(NearMatch(foreign["closest"], "ALB", note))
        return tuple(matches)  # its origin is known; spelling guesses would only add noise
    candidates = {c.lower(): c for c in (*DOCUMENTED_CODES, SUCCESS)}
    similar = difflib.get_close_matches(lowered, list(candidates), n=3, cutoff=0.75)
    if len(lowered) >= 4:
        similar += [c for c in candidates if lowered in c and c not in similar]
    return tuple(NearMatch(candidates[low], "ALB", "similar spelling") for low in similar[:3])


def get_entry(code_or_status: str) -> CatalogueEntry:
    """The entry for a code or a whole ``tls_verify_status`` value, in any case.

    ``ClientCertExpired``, ``Failed:clientcertexpired``, ``Success`` and ``-`` find their
    entries; anything else gives the "unknown" entry with ``given_code`` and
    ``near_matches`` filled in.
    """
    entries = _catalogue().entries
    key = normalize_code(code_or_status)
    if key is not None:
        return entries[key]
    return replace(
        entries[UNKNOWN],
        given_code=_strip_prefix(code_or_status),
        near_matches=near_matches(code_or_status),
    )
