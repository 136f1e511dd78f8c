"""The TLS section of a diagnosis (``diagnose --tls``) as text and Markdown; nothing prints."""

from __future__ import annotations

from collections.abc import Sequence

from mtls_doctor.diagnose.tls import MixEntry, TlsMix, is_pq
from mtls_doctor.timeutil import iso_z

TOP = 10


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _rows(entries: Sequence[MixEntry], total: int, pq: bool = False) -> list[str]:
    shown = [
        f"    {e.value or '-':<34} {e.connections:>9}  {_pct(e.connections, total):>6}  "
        f"{e.clients:>6} client(s)" + ("  PQ" if pq and is_pq(e.value) else "")
        for e in entries[:TOP]
    ]
    if len(entries) > TOP:
        shown.append(f"    ... and {len(entries) - TOP} more (--format json lists them all)")
    return shown


def _pq_line(mix: TlsMix) -> str:
    return (
        f"  post-quantum key exchange (ML-KEM): {mix.pq_connections} of {mix.connections} "
        f"({_pct(mix.pq_connections, mix.connections)})"
    )


def _legacy_lines(mix: TlsMix) -> list[str]:
    if not mix.legacy_connections:
        return ["  clients on TLS 1.0/1.1: none"]
    lines = [
        f"  clients on TLS 1.0/1.1: {mix.legacy_client_count} client(s), "
        f"{mix.legacy_connections} connection(s) (a TLS 1.2+ policy refuses them; "
        "'mtls-doctor policy check' names them all)"
    ]
    lines += [
        f"    {c.client_ip:<39} {c.tls_protocol:<8} {c.connections:>9}  last {iso_z(c.last_seen)}"
        for c in mix.legacy_clients
    ]
    return lines


def mix_text(mix: TlsMix) -> str:
    """The TLS section: protocol, cipher and key-exchange mix, PQ share, legacy clients."""
    if not mix.connections:
        return "TLS\n  no TLS handshake in the selection\n"
    lines = [f"TLS ({mix.connections} handshake(s))", "  protocols:"]
    lines += _rows(mix.protocols, mix.connections)
    lines.append("  ciphers:")
    lines += _rows(mix.ciphers, mix.connections)
    lines.append("  key exchange:")
    lines += _rows(mix.key_exchanges, mix.connections, pq=True)
    lines.append(_pq_line(mix))
    lines += _legacy_lines(mix)
    return "\n".join(lines) + "\n"


def mix_markdown(mix: TlsMix) -> str:
    """:func:`mix_text` under a Markdown heading (a fenced block keeps its columns)."""
    return f"## TLS\n\n```\n{mix_text(mix)}```\n"
