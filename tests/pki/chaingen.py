"""A seeded generator of random client chains, trust stores and CRLs (the differential test).

Each scenario is a root, 0-2 intermediates and a leaf, with faults drawn at random:
validity (past, future, exactly at the check time), CA flags, keyUsage, pathLen, EKU, bad
signatures, names written in another encoding, case or spacing, several roots with one
name, bundles that hold intermediates (a CA the client also sends, or one above a CA the
client sends), and CRLs that revoke, are stale, not yet valid, wrongly signed, several per
issuer or name their issuer in another encoding. Every CA gets at least one CRL, so that
``openssl verify -crl_check_all`` never fails for a missing CRL (the ALB does not demand
one; see the issue). ``tags`` names each fault drawn, for the list of lawful differences.

Keys are EC P-256 from a small pool made once, so a scenario costs only signatures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.pki.pkihelpers import NOW, make_key

AT = NOW
DAY = timedelta(days=1)
_POOL = 12
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


def pool_key(slot: int) -> ec.EllipticCurvePrivateKey:
    key = make_key("ec256", f"pool-{slot % _POOL}")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@dataclass
class Scenario:
    """What the client sends, what the trust store holds, and which faults were drawn."""

    number: int
    sent: list[x509.Certificate]  # leaf first
    bundle: list[x509.Certificate]
    crls: list[x509.CertificateRevocationList]
    tags: set[str] = field(default_factory=set)


def plain_name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Diff Test Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def variant(name: x509.Name, rng: random.Random) -> x509.Name:
    """The same name by RFC 5280 §7.1, written differently (type, case, spacing)."""
    how = rng.choice(("printable", "case", "space", "all"))
    attrs = []
    for attr in name:
        value = str(attr.value)
        kind = getattr(attr, "_type", _ASN1Type.UTF8String)
        if how in ("case", "all") and attr.oid != NameOID.COUNTRY_NAME:
            value = value.upper() if rng.random() < 0.5 else value.lower()
        if how in ("space", "all") and attr.oid != NameOID.COUNTRY_NAME:
            value = "  " + value.replace(" ", "   ") + " "
        if how in ("printable", "all"):
            kind = _ASN1Type.PrintableString if kind == _ASN1Type.UTF8String else kind
        elif kind == _ASN1Type.PrintableString and attr.oid != NameOID.COUNTRY_NAME:
            kind = _ASN1Type.UTF8String
        attrs.append(x509.NameAttribute(attr.oid, value, _type=kind))
    return x509.Name(attrs)


@dataclass
class Node:
    """A certificate to make: its name, key and the choices drawn for it."""

    role: str
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    ca: bool
    serial: int
    not_before: datetime = AT - 30 * DAY
    not_after: datetime = AT + 365 * DAY
    constraints: str = "ca"  # ca | none | not-ca
    key_usage: str = "default"  # default | no-cert-sign | no-crl-sign | enc-only | none
    eku: tuple[x509.ObjectIdentifier, ...] | None = (CLIENT_AUTH,)
    path_length: int | None = None
    key_ids: bool = False
    cert: x509.Certificate | None = None


def _key_usage(node: Node) -> x509.KeyUsage | None:
    if node.key_usage == "none":
        return None
    sign = not node.ca or node.key_usage == "no-cert-sign"
    cert_sign = node.ca and node.key_usage not in ("no-cert-sign",)
    crl_sign = node.ca and node.key_usage not in ("no-cert-sign", "no-crl-sign")
    return x509.KeyUsage(
        digital_signature=sign and node.key_usage != "enc-only",
        content_commitment=False,
        key_encipherment=node.key_usage == "enc-only",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build(
    node: Node, issuer: Node | None, issuer_name: x509.Name, signer: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(node.name)
        .issuer_name(issuer_name)
        .public_key(node.key.public_key())
        .serial_number(node.serial)
        .not_valid_before(node.not_before)
        .not_valid_after(node.not_after)
    )
    if node.constraints != "none":
        ca = node.constraints == "ca" and node.ca
        length = node.path_length if ca else None
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=length), True)
    usage = _key_usage(node)
    if usage is not None:
        builder = builder.add_extension(usage, True)
    if node.eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(node.eku)), False)
    if node.key_ids:
        ski = x509.SubjectKeyIdentifier.from_public_key(node.key.public_key())
        builder = builder.add_extension(ski, False)
    if issuer is not None and issuer.key_ids:
        akid = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        builder = builder.add_extension(akid, False)
    return builder.sign(signer, hashes.SHA256())


class Generator:
    """Scenario ``n`` of seed ``seed`` is always the same."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def scenario(self, number: int) -> Scenario:
        rng = random.Random(f"{self.seed}/{number}")
        return _Draw(rng, number).run()


class _Draw:
    def __init__(self, rng: random.Random, number: int) -> None:
        self.rng = rng
        self.number = number
        self.tags: set[str] = set()
        self.slot = rng.randrange(_POOL)

    def chance(self, p: float, tag: str) -> bool:
        hit = self.rng.random() < p
        if hit:
            self.tags.add(tag)
        return hit

    def key(self) -> ec.EllipticCurvePrivateKey:
        self.slot += 1
        return pool_key(self.slot)

    def node(self, role: str, ca: bool) -> Node:
        node = Node(
            role,
            plain_name(f"S{self.number} {role}"),
            self.key(),
            ca,
            self.rng.randrange(1, 2**63),
            key_ids=self.key_ids,
        )
        self.times(node)
        if ca:
            self.ca_faults(node)
        else:
            self.leaf_faults(node)
        return node

    def times(self, node: Node) -> None:
        if self.chance(0.05, f"{node.role}:expired"):
            node.not_after = AT - self.rng.choice((DAY, timedelta(seconds=1)))
        elif self.chance(0.03, f"{node.role}:not_after_at"):
            node.not_after = AT
        if node.not_after <= AT:
            return  # one validity fault per certificate
        if self.chance(0.04, f"{node.role}:not_yet_valid"):
            node.not_before = AT + self.rng.choice((DAY, timedelta(seconds=1)))
        elif self.chance(0.03, f"{node.role}:not_before_at"):
            node.not_before = AT

    def ca_faults(self, node: Node) -> None:
        node.eku = None
        if node.role == "root":
            if self.chance(0.05, "root:no_bc"):
                node.constraints = "none"
            return
        if self.chance(0.04, f"{node.role}:no_bc"):
            node.constraints = "none"
        elif self.chance(0.03, f"{node.role}:not_ca"):
            node.constraints = "not-ca"
        if self.chance(0.03, f"{node.role}:no_cert_sign"):
            node.key_usage = "no-cert-sign"
        elif self.chance(0.04, f"{node.role}:no_crl_sign"):
            node.key_usage = "no-crl-sign"
        if self.chance(0.04, f"{node.role}:path_len_0"):
            node.path_length = 0
        if self.chance(0.04, f"{node.role}:eku_server"):
            node.eku = (SERVER_AUTH,)
        elif self.rng.random() < 0.05:
            node.eku = (CLIENT_AUTH,)

    def leaf_faults(self, node: Node) -> None:
        if self.chance(0.05, "leaf:eku_server"):
            node.eku = (SERVER_AUTH,)
        elif self.rng.random() < 0.1:
            node.eku = None
        if self.chance(0.04, "leaf:ku_enc_only"):
            node.key_usage = "enc-only"

    def run(self) -> Scenario:
        rng = self.rng
        self.key_ids = rng.random() < 0.4
        if self.key_ids:
            self.tags.add("key_ids")
        depth = rng.choice((0, 1, 1, 2, 2))
        cas = [self.node("root", True)]
        for level in range(depth):
            cas.append(self.node(f"mid{level}", True))
        leaf = self.node("leaf", False)
        self.tags.add(f"depth:{depth}")
        nodes = [*cas, leaf]
        for position, node in enumerate(nodes):
            self.issue(node, nodes[position - 1] if position else None)
        bundle = self.bundle(cas)
        sent = self.sent(leaf, cas)
        crls = [
            crl
            for position, ca in enumerate((*cas, *self.extra_cas))
            for crl in self.crls(ca, nodes[position + 1] if position < len(cas) else None, nodes)
        ]
        rng.shuffle(crls)
        return Scenario(self.number, sent, bundle, crls, self.tags)

    def issue(self, node: Node, issuer: Node | None) -> None:
        issuer_node = issuer or node
        name = issuer_node.name
        if issuer is not None and self.chance(0.1, f"{node.role}:issuer_variant"):
            name = variant(name, self.rng)
        signer = issuer_node.key
        if issuer is not None and self.chance(0.04, f"{node.role}:bad_signature"):
            signer = self.key()
        node.cert = build(node, issuer, name, signer)

    def bundle(self, cas: list[Node]) -> list[x509.Certificate]:
        root = cas[0]
        self.extra_cas: list[Node] = []
        bundle = [root]
        if self.chance(0.05, "root_not_in_bundle"):
            stranger = Node("stranger", plain_name(f"S{self.number} stranger"), self.key(), True, 7)
            stranger.cert = build(stranger, None, stranger.name, stranger.key)
            bundle = [stranger]
        if self.chance(0.08, "same_name_root"):
            twin = Node("twin", root.name, self.key(), True, self.rng.randrange(1, 2**63))
            twin.key_ids = self.rng.random() < 0.5
            twin.cert = build(twin, None, twin.name, twin.key)
            self.extra_cas.append(twin)
            bundle.insert(self.rng.randrange(len(bundle) + 1), twin)
        for mid in cas[1:]:
            if self.chance(0.15, f"{mid.role}:in_bundle"):
                bundle.append(mid)
        self.rng.shuffle(bundle)
        return [n.cert for n in bundle if n.cert is not None]

    def sent(self, leaf: Node, cas: list[Node]) -> list[x509.Certificate]:
        mids = [ca for ca in cas[1:] if not self.chance(0.06, f"{ca.role}:not_sent")]
        if len(mids) > 1 and self.chance(0.2, "sent_out_of_order"):
            mids.reverse()
        extra = [cas[0]] if self.chance(0.05, "root_sent") else []
        return [n.cert for n in (leaf, *mids, *extra) if n.cert is not None]

    def crls(
        self, ca: Node, child: Node | None, nodes: list[Node]
    ) -> list[x509.CertificateRevocationList]:
        # mostly the certificate this CA issued; sometimes another one of the chain, which
        # this CRL must not revoke (a CRL covers its own issuer's certificates only)
        others = [n for n in nodes[1:] if n is not child]
        children = [child] * 4 + others if child is not None else others
        count = 1 + (self.rng.random() < 0.15) + (self.rng.random() < 0.05)
        if count > 1:
            self.tags.add("several_crls")
        return [self.crl(ca, children, i) for i in range(count)]

    def crl(self, ca: Node, children: list[Node], index: int) -> x509.CertificateRevocationList:
        rng = self.rng
        tag = f"crl:{ca.role}"
        last = AT - DAY * (1 + index + rng.random())
        nxt = AT + 7 * DAY
        if self.chance(0.06, f"{tag}:stale"):
            nxt = AT - rng.choice((DAY / 2, timedelta(seconds=1)))
            last = min(last, nxt - DAY)
        elif self.chance(0.03, f"{tag}:next_update_at"):
            nxt = AT
        elif self.chance(0.03, f"{tag}:not_yet_valid"):
            last = AT + timedelta(seconds=rng.choice((1, 3600)))
        name = ca.name
        if self.chance(0.08, f"{tag}:issuer_variant"):
            name = variant(name, rng)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(name)
            .last_update(last.replace(microsecond=0))
            .next_update(nxt.replace(microsecond=0))
        )
        serials = {rng.randrange(1, 2**63)}
        if children and self.chance(0.12, f"{tag}:revokes"):
            serials.add(rng.choice(children).serial)
        for serial in serials:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(AT - 2 * DAY)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        signer = ca.key
        if self.chance(0.04, f"{tag}:bad_signature"):
            signer = self.key()
        return builder.sign(signer, hashes.SHA256())
