"""Evidence rules: what the log fields prove for each failure code (change points: changes.py).

Each rule is a small function of rows already fetched, so it can be tested with rows made
by hand: one case that must trigger it and one that must not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from mtls_doctor.diagnose.model import Evidence

# A NotBefore this close after the connection means the client's clock is behind.
CLOCK_SKEW_LIMIT = timedelta(hours=1)

CertRow = tuple[Any, ...]  # serial, subject, not_before, not_after, n, clients, first, last


def human_delta(delta: timedelta) -> str:
    """``3 days 4 hours``, ``12 minutes``, ``40 seconds``: the two largest units."""
    seconds = int(abs(delta.total_seconds()))
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def _cert_item(row: CertRow) -> dict[str, Any]:
    serial, subject, not_before, not_after, n, clients, first, last = row
    return {
        "serial": serial,
        "subject": subject,
        "not_before": not_before,
        "not_after": not_after,
        "connections": n,
        "clients": clients,
        "first_seen": first,
        "last_seen": last,
    }


def expired_evidence(rows: Sequence[CertRow]) -> Evidence:
    """Each certificate's NotAfter and how long before the connections it had expired."""
    items, notes = [], []
    for row in rows:
        item = _cert_item(row)
        not_after, first = item["not_after"], item["first_seen"]
        if not_after is not None and first is not None:
            gap = first - not_after
            item["expired_before_first_failure_seconds"] = int(gap.total_seconds())
            if gap.total_seconds() > 0:
                notes.append(
                    f"{item['subject'] or 'certificate'} (serial {item['serial']}) expired on "
                    f"{not_after:%Y-%m-%d %H:%M}Z, {human_delta(gap)} before its first failed "
                    f"connection here."
                )
            else:
                notes.append(
                    f"{item['subject'] or 'certificate'} (serial {item['serial']}) has NotAfter "
                    f"{not_after:%Y-%m-%d %H:%M}Z, after the connection: the client may have "
                    f"sent an expired intermediate, or its clock is off."
                )
        items.append(item)
    return Evidence("certificate_validity", tuple(items), tuple(notes))


def not_yet_valid_evidence(rows: Sequence[CertRow]) -> Evidence:
    """NotBefore against the connection time; a gap of minutes points at clock skew."""
    items, notes = [], []
    for row in rows:
        item = _cert_item(row)
        not_before, first = item["not_before"], item["first_seen"]
        if not_before is not None and first is not None:
            gap = not_before - first
            item["valid_after_connection_seconds"] = int(gap.total_seconds())
            if timedelta(0) < gap <= CLOCK_SKEW_LIMIT:
                item["clock_skew_suspected"] = True
                notes.append(
                    f"{item['subject'] or 'certificate'} becomes valid only {human_delta(gap)} "
                    "after the connection: a certificate issued moments ago and used at once, "
                    "or a client/CA clock that is off. Check NTP on the issuing CA and the client."
                )
            elif gap > CLOCK_SKEW_LIMIT:
                notes.append(
                    f"{item['subject'] or 'certificate'} becomes valid on "
                    f"{not_before:%Y-%m-%d %H:%M}Z, {human_delta(gap)} after the connection: "
                    "it was issued with a future NotBefore; re-issue it or wait."
                )
        items.append(item)
    return Evidence("certificate_validity", tuple(items), tuple(notes))


def crl_hit_evidence(rows: Sequence[CertRow]) -> Evidence:
    """The revoked serials, as the ALB logged them."""
    items = tuple(_cert_item(row) for row in rows)
    serials = sorted({str(i["serial"]) for i in items if i["serial"]})
    notes = (f"Revoked serial(s) seen: {', '.join(serials)}.",) if serials else ()
    return Evidence("revoked_serials", items, notes)


def affected_evidence(rows: Sequence[CertRow]) -> Evidence:
    """For the other codes: the subjects and serials affected."""
    items = tuple(_cert_item(row) for row in rows)
    subjects = {i["subject"] for i in items if i["subject"]}
    notes: tuple[str, ...] = ()
    if not subjects and items:
        notes = (
            "The ALB logged no subject or serial: it could not read the leaf certificate, "
            "or the client sent none.",
        )
    return Evidence("affected_certificates", items, notes)


RULES = {
    "ClientCertExpired": expired_evidence,
    "ClientCertNotYetValid": not_yet_valid_evidence,
    "ClientCertCrlHit": crl_hit_evidence,
}


def evidence_for(code: str, rows: Sequence[CertRow]) -> Evidence:
    """The evidence rule for ``code`` applied to its certificate rows."""
    return RULES.get(code, affected_evidence)(rows)
