"""The TLS section (``report``, unless ``--no-tls``) as HTML: protocol, cipher and
key-exchange mix, the post-quantum share and the clients on TLS 1.0/1.1, from
:class:`~mtls_doctor.diagnose.tls.TlsMix` (it computes no number of its own).
Every value goes through :func:`~.kit.esc`."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_doctor.diagnose.tls import MixEntry, TlsMix, is_pq
from mtls_doctor.markup.kit import bar_cell, cards, esc, pct, table, when

TOP = 10


def _mix_table(title: str, entries: Sequence[MixEntry], total: int, pq: bool = False) -> str:
    peak = max((e.connections for e in entries), default=0)
    rows = [
        [
            esc(e.value) + (' <span class="muted">PQ</span>' if pq and is_pq(e.value) else ""),
            bar_cell(e.connections, peak),
            esc(pct(e.connections / total) if total else "-"),
            esc(e.clients),
        ]
        for e in entries[:TOP]
    ]
    return f"<h3>{esc(title)}</h3>" + table(
        [title, "Connections", "Share", "Clients"], rows, numeric=(1, 2, 3)
    )


def tls_section(mix: TlsMix) -> str:
    """The whole TLS section, with its heading."""
    head = '<h2 id="tls">TLS</h2>'
    if not mix.connections:
        return head + '<p class="empty">No TLS handshake in the selection.</p>'
    share = mix.pq_share or 0.0
    numbers = cards(
        [
            ("TLS handshakes", str(mix.connections), ""),
            ("post-quantum key exchange", pct(share), ""),
            ("clients on TLS 1.0/1.1", str(mix.legacy_client_count),
             "warn" if mix.legacy_client_count else "ok"),
        ]
    )  # fmt: skip
    legacy = [
        [esc(c.client_ip), esc(c.tls_protocol), esc(c.connections), when(c.last_seen)]
        for c in mix.legacy_clients
    ]
    return (
        head
        + numbers
        + _mix_table("Protocol", mix.protocols, mix.connections)
        + _mix_table("Cipher", mix.ciphers, mix.connections)
        + _mix_table("Key exchange", mix.key_exchanges, mix.connections, pq=True)
        + "<h3>Clients on TLS 1.0/1.1</h3>"
        + table(
            ["Client", "Protocol", "Connections", "Last seen"],
            legacy,
            numeric=(2,),
            empty="No client on TLS 1.0 or 1.1.",
        )
    )


def client_tls(mix: TlsMix) -> str:
    """One client's TLS (the dashboard's client page): its protocol, cipher and key-exchange
    mix, from the TlsMix of a selection of that client."""
    head = '<h2 id="tls">6. Its TLS handshakes</h2>'
    if not mix.connections:
        return head + '<p class="empty">No TLS handshake from this client in the selection.</p>'
    return (
        head
        + _mix_table("Protocol", mix.protocols, mix.connections)
        + _mix_table("Cipher", mix.ciphers, mix.connections)
        + _mix_table("Key exchange", mix.key_exchanges, mix.connections, pq=True)
    )
