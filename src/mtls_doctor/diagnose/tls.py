"""The policy questions, asked of a source's prepared TLS handshakes table.

A source read for a :class:`~.source.Scope` with ``tls`` has ``prepared.tls``: every TLS
connection of the selection counted per client, protocol, cipher and key exchange
(``queries.TLS_HANDSHAKES``), whatever the logs were (files by either reader, a store,
Athena). :func:`policy_check` says which clients a security policy would refuse and why,
:func:`policy_compare` what changes when a listener moves from one policy to another. The
verdict per (protocol, cipher) is :func:`~mtls_doctor.knowledge.policy_fit.evaluate_handshake`'s,
the one place that decides it.

What a logged pair proves is that the client offered that protocol and cipher; it may offer
others too, so "refused" reads "refused unless the client also offers something the policy
has" (docs/policies.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.source import Source
from mtls_doctor.knowledge.policies import SecurityPolicy
from mtls_doctor.knowledge.policy_fit import HandshakeFit, evaluate_handshake
from mtls_doctor.timeutil import iso_z

# Per client and (protocol, cipher): the key exchange is not a policy question here.
_PAIRS = """
SELECT client_ip, tls_protocol, tls_cipher, sum(n) AS n, max(last_seen) AS last_seen
FROM {tls} GROUP BY client_ip, tls_protocol, tls_cipher"""

_SELECTED = "SELECT {n} FROM {rel} WHERE {where}"


@dataclass(frozen=True)
class _Pair:
    client_ip: str
    tls_protocol: str
    tls_cipher: str | None
    connections: int
    last_seen: datetime | None


def tls_relation(source: Source) -> str:
    """The source's TLS handshakes table; ValueError when it was not read for one."""
    relation = source.prepared.tls
    if relation is None:
        raise ValueError("this source was not read for the TLS handshakes (Scope tls=True)")
    return relation


def selected_connections(source: Source) -> int:
    """Every connection of the selection, TLS or not (to tell "no TLS field" from "nothing")."""
    p = source.prepared
    sql = _SELECTED.format(n=p.shape["n"], rel=p.counts, where=p.where)
    rows = source.fetch(sql, dict(p.params))
    return int(rows[0][0] or 0) if rows else 0


def _pairs(source: Source) -> list[_Pair]:
    rows = source.fetch(_PAIRS.format(tls=tls_relation(source)))
    return [_Pair(str(r[0]), str(r[1]), r[2], int(r[3]), r[4]) for r in rows]


@dataclass(frozen=True)
class ClientHandshake:
    """A client's connections with one (protocol, cipher), and what a policy says of it."""

    client_ip: str
    tls_protocol: str
    tls_cipher: str | None
    connections: int
    last_seen: datetime | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_ip": self.client_ip,
            "tls_protocol": self.tls_protocol,
            "tls_cipher": self.tls_cipher,
            "connections": self.connections,
            "last_seen": iso_z(self.last_seen),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HandshakeGroup:
    """Every client's connections with one (protocol, cipher), and the policy's answer:
    ``refused`` is None when it cannot be told (an unknown cipher list, no cipher logged)."""

    tls_protocol: str
    tls_cipher: str | None
    connections: int
    clients: int
    refused: bool | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tls_protocol": self.tls_protocol,
            "tls_cipher": self.tls_cipher,
            "connections": self.connections,
            "clients": self.clients,
            "refused": self.refused,
            "reason": self.reason,
        }


class _Judge:
    """evaluate_handshake once per distinct (protocol, cipher)."""

    def __init__(self, policy: SecurityPolicy) -> None:
        self.policy = policy
        self._seen: dict[tuple[str, str | None], HandshakeFit] = {}

    def __call__(self, pair: _Pair) -> HandshakeFit:
        key = (pair.tls_protocol, pair.tls_cipher)
        if key not in self._seen:
            self._seen[key] = evaluate_handshake(self.policy, key[0], key[1] or "-")
        return self._seen[key]


def _reason(fit: HandshakeFit) -> str | None:
    return "; ".join(fit.reasons) or None


def _client(pair: _Pair, fit: HandshakeFit) -> ClientHandshake:
    return ClientHandshake(
        pair.client_ip,
        pair.tls_protocol,
        pair.tls_cipher,
        pair.connections,
        pair.last_seen,
        _reason(fit),
    )


def _most_first(items: Sequence[ClientHandshake]) -> tuple[ClientHandshake, ...]:
    return tuple(
        sorted(
            items,
            key=lambda c: (-c.connections, c.client_ip, c.tls_protocol, c.tls_cipher or ""),
        )
    )


def _groups(pairs: Sequence[_Pair], judge: Callable[[_Pair], HandshakeFit]) -> list[HandshakeGroup]:
    totals: dict[tuple[str, str | None], list[Any]] = {}
    for pair in pairs:
        entry = totals.setdefault((pair.tls_protocol, pair.tls_cipher), [0, set(), judge(pair)])
        entry[0] += pair.connections
        entry[1].add(pair.client_ip)
    groups = [
        HandshakeGroup(proto, cipher, n, len(clients), fit.refused, _reason(fit))
        for (proto, cipher), (n, clients, fit) in totals.items()
    ]
    return sorted(groups, key=lambda g: (-g.connections, g.tls_protocol, g.tls_cipher or ""))


@dataclass(frozen=True)
class PolicyCheck:
    """Which logged clients ``policy`` would refuse, and why (``policy check``)."""

    policy: SecurityPolicy
    connections: int  # TLS connections examined
    refused_connections: int
    undecided_connections: int  # the policy's answer cannot be told (see HandshakeGroup)
    clients: tuple[ClientHandshake, ...]  # the refused ones, most connections first
    handshakes: tuple[HandshakeGroup, ...]  # every (protocol, cipher), most connections first

    @property
    def refused_clients(self) -> int:
        return len({c.client_ip for c in self.clients})

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "policy": self.policy.name,
            "policy_verified": self.policy.verified,
            "connections": self.connections,
            "refused_connections": self.refused_connections,
            "refused_clients": self.refused_clients,
            "undecided_connections": self.undecided_connections,
            "clients": [c.to_dict() for c in self.clients],
            "handshakes": [g.to_dict() for g in self.handshakes],
        }


def _check(pairs: Sequence[_Pair], policy: SecurityPolicy) -> PolicyCheck:
    judge = _Judge(policy)
    refused = [_client(p, judge(p)) for p in pairs if judge(p).refused]
    return PolicyCheck(
        policy,
        sum(p.connections for p in pairs),
        sum(c.connections for c in refused),
        sum(p.connections for p in pairs if judge(p).refused is None),
        _most_first(refused),
        tuple(_groups(pairs, judge)),
    )


def policy_check(source: Source, policy: SecurityPolicy) -> PolicyCheck:
    """Which of the source's TLS clients ``policy`` would refuse, and why."""
    return _check(_pairs(source), policy)


@dataclass(frozen=True)
class PolicyComparison:
    """What changes for the logged clients when a listener moves from ``old`` to ``new``."""

    old: PolicyCheck
    new: PolicyCheck
    newly_refused: tuple[ClientHandshake, ...]  # with new's reason
    no_longer_refused: tuple[ClientHandshake, ...]  # with old's reason

    def to_dict(self) -> dict[str, Any]:
        still = self.new.refused_connections - sum(c.connections for c in self.newly_refused)
        return {
            "schema_version": 1,
            "old": self.old.policy.name,
            "new": self.new.policy.name,
            "policies_verified": self.old.policy.verified and self.new.policy.verified,
            "connections": self.new.connections,
            "newly_refused_connections": sum(c.connections for c in self.newly_refused),
            "no_longer_refused_connections": sum(c.connections for c in self.no_longer_refused),
            "still_refused_connections": still,
            "undecided_connections": {
                "old": self.old.undecided_connections,
                "new": self.new.undecided_connections,
            },
            "newly_refused": [c.to_dict() for c in self.newly_refused],
            "no_longer_refused": [c.to_dict() for c in self.no_longer_refused],
        }


def _keys(check: PolicyCheck) -> set[tuple[str, str, str | None]]:
    return {(c.client_ip, c.tls_protocol, c.tls_cipher) for c in check.clients}


def policy_compare(source: Source, old: SecurityPolicy, new: SecurityPolicy) -> PolicyComparison:
    """The clients ``new`` refuses that ``old`` did not, and those it no longer refuses.

    A pair whose answer under one policy cannot be told is in neither list (it is counted
    in ``undecided_connections``)."""
    pairs = _pairs(source)
    before, after = _check(pairs, old), _check(pairs, new)
    newly = _accepted_by(before, after.clients, old)
    freed = _accepted_by(after, before.clients, new)
    return PolicyComparison(before, after, _most_first(newly), _most_first(freed))


def _accepted_by(
    other: PolicyCheck, refused: Sequence[ClientHandshake], policy: SecurityPolicy
) -> list[ClientHandshake]:
    """Of ``refused``, those that ``policy`` (``other``'s) accepts for certain."""
    judge, theirs = _Judge(policy), _keys(other)
    return [
        c
        for c in refused
        if (c.client_ip, c.tls_protocol, c.tls_cipher) not in theirs
        and judge(_Pair(c.client_ip, c.tls_protocol, c.tls_cipher, 0, None)).refused is False
    ]


# The TLS mix (diagnose --tls): per protocol, cipher and key exchange, over every handshake.
_MIX = """
SELECT {column} AS value, sum(n) AS n, count(DISTINCT client_ip) AS clients
FROM {tls} GROUP BY {column} ORDER BY n DESC, value NULLS LAST"""

_CLIENTS_ON = """
SELECT client_ip, tls_protocol, sum(n) AS n, max(last_seen) AS last_seen
FROM {tls} WHERE tls_protocol IN ({protocols})
GROUP BY client_ip, tls_protocol ORDER BY n DESC, client_ip, tls_protocol"""

LEGACY_SPELLINGS = ("TLSv1", "TLSv1.0", "TLSv1.1")  # as the connection log spells them
LEGACY_SHOWN = 20
PQ_MARK = "MLKEM"  # the hybrid ML-KEM groups: X25519MLKEM768, SecP256r1MLKEM768, ...


def is_pq(keyexchange: str | None) -> bool:
    """A post-quantum (hybrid ML-KEM) key exchange, by its group name (spec §1.2)."""
    return keyexchange is not None and PQ_MARK in keyexchange.upper()


@dataclass(frozen=True)
class MixEntry:
    """One protocol, cipher or key exchange: its TLS connections and distinct clients."""

    value: str | None
    connections: int
    clients: int

    def to_dict(self, name: str) -> dict[str, Any]:
        return {name: self.value, "connections": self.connections, "clients": self.clients}


@dataclass(frozen=True)
class TlsMix:
    """What the TLS handshakes of a selection look like: the protocol, cipher and
    key-exchange mix, the share of post-quantum key exchange, the clients on TLS 1.0/1.1."""

    connections: int
    protocols: tuple[MixEntry, ...]
    ciphers: tuple[MixEntry, ...]
    key_exchanges: tuple[MixEntry, ...]
    legacy_clients: tuple[ClientHandshake, ...]  # the most active LEGACY_SHOWN
    legacy_connections: int
    legacy_client_count: int

    @property
    def pq_connections(self) -> int:
        return sum(k.connections for k in self.key_exchanges if is_pq(k.value))

    @property
    def pq_share(self) -> float | None:
        return None if not self.connections else self.pq_connections / self.connections

    def to_dict(self) -> dict[str, Any]:
        share = self.pq_share
        return {
            "schema_version": 1,
            "connections": self.connections,
            "protocols": [p.to_dict("tls_protocol") for p in self.protocols],
            "ciphers": [c.to_dict("tls_cipher") for c in self.ciphers],
            "key_exchanges": [
                {**k.to_dict("tls_keyexchange"), "pq": is_pq(k.value)} for k in self.key_exchanges
            ],
            "pq_connections": self.pq_connections,
            "pq_share": None if share is None else round(share, 4),
            "legacy_connections": self.legacy_connections,
            "legacy_client_count": self.legacy_client_count,
            "legacy_clients": [c.to_dict() for c in self.legacy_clients],
        }


def tls_mix(source: Source) -> TlsMix:
    """The TLS mix of the source's handshakes table (see :class:`TlsMix`)."""
    tls = tls_relation(source)
    mixes = source.fetch_many(
        [(_MIX.format(column=c, tls=tls), {}) for c in _MIX_COLUMNS]
        + [(_CLIENTS_ON.format(tls=tls, protocols=_LEGACY_SQL), {})]
    )
    protocols, ciphers, exchanges = (
        tuple(MixEntry(r[0], int(r[1]), int(r[2])) for r in rows) for rows in mixes[:3]
    )
    legacy = [ClientHandshake(str(r[0]), str(r[1]), None, int(r[2]), r[3], None) for r in mixes[3]]
    return TlsMix(
        sum(p.connections for p in protocols),
        protocols,
        ciphers,
        exchanges,
        tuple(legacy[:LEGACY_SHOWN]),
        sum(c.connections for c in legacy),
        len({c.client_ip for c in legacy}),
    )


_MIX_COLUMNS = ("tls_protocol", "tls_cipher", "tls_keyexchange")
_LEGACY_SQL = ", ".join(f"'{p}'" for p in LEGACY_SPELLINGS)
