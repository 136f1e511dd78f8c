"""The demo job end to end: PKI, sandbox, an incident in two phases, ingest, diagnose, report.

Phase 1 (about 30 simulated minutes): the trust store holds the root and the intermediate CA
and carries no CRL; most clients succeed, a few fail for steady reasons (an expired
certificate, a wrong key usage, one not yet valid). Then "someone updates the trust store": the
listener restarts with a bundle missing the intermediate and with the CRL attached. From then
on the clients that send only their leaf under the intermediate fail with
ClientCertUntrusted and the revoked client with ClientCertCrlHit: what ``diagnose`` should
find as changes.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mtls_doctor.demo.traffic import Client, Driver, Identity, SimClock, client_address
from mtls_doctor.demo.trail import LISTENER, TRUST_STORE, record_change
from mtls_doctor.diagnose.causes import attach_causes, change_window
from mtls_doctor.diagnose.correlate import Correlator
from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import Diagnosis, likely_cause_text
from mtls_doctor.diagnose.overview import overview
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.diagnose.tls import tls_mix
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters
from mtls_doctor.pki.issue import issue_client, load_ca
from mtls_doctor.pki.scenarios import ScenarioSet, build_scenarios
from mtls_doctor.report.html import render_html
from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.server import Sandbox
from mtls_doctor.trail.files import read_folder
from mtls_doctor.trail.objects import FolderVersions
from mtls_doctor.trail.select import Scope as ChangeScope

Progress = Callable[[str], None]

# (scenario, how many clients, connection probability per minute). The leaf-only clients
# of the intermediate are the ones the trust-store change breaks.
POPULATION: tuple[tuple[str, int, float], ...] = (
    ("success-root", 21, 0.35),
    ("legacy-tls", 1, 0.35),  # success-root's certificate, but offers TLS 1.1 only
    ("leaf-only-intermediate", 9, 0.4),
    ("expiring-soon", 3, 0.3),
    ("revoked", 2, 0.4),
    ("expired", 2, 0.25),
    ("wrong-purpose", 1, 0.2),
    ("not-yet-valid", 1, 0.1),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demo made and where it put it."""

    out_dir: Path
    db: Path
    report: Path
    diagnosis_json: Path
    log_dir: Path
    pki_dir: Path
    connections: int
    changed_at: datetime
    diagnosis: Diagnosis
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        s = self.diagnosis.summary
        return {
            "schema_version": 1,
            "out_dir": str(self.out_dir),
            "db": str(self.db),
            "report": str(self.report),
            "diagnosis_json": str(self.diagnosis_json),
            "log_dir": str(self.log_dir),
            "pki_dir": str(self.pki_dir),
            "connections_sent": self.connections,
            "trust_store_changed_at": self.changed_at.isoformat().replace("+00:00", "Z"),
            "connections": s.connections,
            "failed": s.failed,
            "codes": {g.code: g.count for g in self.diagnosis.failures},
            "changes": [g.change.message for g in self.diagnosis.failures if g.change],
            "causes": [
                text
                for g in self.diagnosis.failures
                if g.change and (text := likely_cause_text(g.change))
            ],
            "seconds": round(self.seconds, 1),
        }


def _free_port() -> int:
    # The same port across the restart, like a listener that keeps its port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _identities(pki: ScenarioSet, out: Path, at: datetime) -> dict[str, Identity]:
    ids: dict[str, Identity] = {}
    for s in pki.scenarios:
        chain = pki.path(s.chain) if s.chain else None
        ids[s.name] = Identity(s.name, chain, pki.path(s.key) if s.key else None)
    inter = pki.scenario("success-intermediate")
    assert inter.cert and inter.key
    # Sends its leaf only: works while the bundle holds the intermediate, not after.
    ids["leaf-only-intermediate"] = Identity(
        "leaf-only-intermediate", pki.path(inter.cert), pki.path(inter.key)
    )
    root = load_ca(pki.path(pki.root_ca), pki.path(pki.root_ca_key))
    soon = issue_client(
        root,
        out / "clients" / "expiring-soon",
        at=at,
        days=365,
        not_before=at - timedelta(days=353),  # NotAfter 12 days ahead: inside --warn-days
        common_name="expiring-soon.client.test",
    )
    ids["expiring-soon"] = Identity("expiring-soon", soon.chain_path, soon.key_path)
    ok = ids["success-root"]
    ids["legacy-tls"] = Identity("legacy-tls", ok.chain, ok.key, legacy_tls=True)
    return ids


def _population(ids: dict[str, Identity]) -> list[Client]:
    clients: list[Client] = []
    for name, count, rate in POPULATION:
        for _ in range(count):
            clients.append(Client(client_address(len(clients)), ids[name], rate))
    return clients


def _phase(config: SandboxConfig, driver: Driver, clients: list[Client], start: datetime,
           minutes: int, *, first: bool) -> None:  # fmt: skip
    sandbox = Sandbox(config)
    try:
        sandbox.start()
        # Every client shows up in the first minute, so steady failures are there from the
        # start and only the trust-store change reads as a change.
        driver.run_minutes(sandbox.port, clients, start, minutes, everyone_first=first)
    finally:
        sandbox.stop()  # always: the demo leaves nothing listening


def run_demo(
    out: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    before_minutes: int = 30,
    after_minutes: int = 20,
    seed: int = 7,
    log_format: str = "legacy",
) -> DemoResult:
    """Run the whole demo into ``out`` (created; earlier demo files are replaced); the
    sandbox writes its connection logs in ``log_format`` (legacy, or vended ``json``)."""
    began = time.monotonic()
    say = progress or (lambda _m: None)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = now.replace(second=0) - timedelta(minutes=before_minutes + after_minutes)
    out.mkdir(parents=True, exist_ok=True)
    pki_dir, log_dir, db = out / "pki", out / "logs", out / "connections.duckdb"
    # A rerun starts afresh: old logs would be ingested again with the new ones.
    for folder in (pki_dir, log_dir, out / "cloudtrail", out / "s3-versions"):
        shutil.rmtree(folder, ignore_errors=True)
    for old in (db, db.with_name(db.name + ".wal")):
        old.unlink(missing_ok=True)
    say(f"making the scenario PKI in {pki_dir}")
    # Issued an hour before the traffic starts, so CRL and certificates are valid throughout.
    pki = build_scenarios(pki_dir, at=start - timedelta(hours=1))
    ids = _identities(pki, pki_dir, start - timedelta(hours=1))
    before = pki_dir / "trust-store-before-change.pem"
    before.write_bytes(
        pki.path(pki.trust_store).read_bytes() + pki.path(pki.intermediate_ca).read_bytes()
    )
    clock = SimClock(start)
    base = SandboxConfig(
        log_dir=log_dir,
        trust_store=before,
        port=_free_port(),
        server_cert=pki.path(pki.server_cert),
        server_key=pki.path(pki.server_key),
        drain_seconds=2.0,
        handshake_timeout=5.0,
        idle_timeout=5.0,
        clock=clock,
        log_format=log_format,
    )
    driver = Driver(clock, pki.path(pki.root_ca), random.Random(seed))
    clients = _population(ids)
    say(f"phase 1: {len(clients)} clients, {before_minutes} simulated minutes, port {base.port}")
    _phase(base, driver, clients, start, before_minutes, first=True)
    changed_at = start + timedelta(minutes=before_minutes)
    say(f"trust store changed at {changed_at:%H:%M}Z: intermediate removed, CRL attached")
    after = replace(
        base,
        trust_store=pki.path(pki.trust_store),
        crls=tuple(pki.path(c) for c in pki.crls),
    )
    _phase(after, driver, clients, changed_at, after_minutes, first=False)
    crls = [pki.path(c) for c in pki.crls]
    say(f"recording the change as CloudTrail does in {out / 'cloudtrail'}")
    trail = record_change(
        out, before, pki.path(pki.trust_store), crls, start - timedelta(hours=1), changed_at
    )
    return _finish(out, pki, db, log_dir, driver.sent, changed_at, now, began, say, trail)


def _finish(
    out: Path,
    pki: ScenarioSet,
    db: Path,
    log_dir: Path,
    sent: int,
    changed_at: datetime,
    now: datetime,
    began: float,
    say: Progress,
    trail: tuple[Path, Path],
) -> DemoResult:
    say(f"ingesting {log_dir} into {db}")
    ingest_inputs([str(log_dir)], db, now=now)
    correlator = Correlator.from_files(
        pki.path(pki.trust_store), [pki.path(c) for c in pki.crls], pki.out_dir / "clients"
    )
    # The report has its TLS section, as `mtls-doctor report` does by default.
    with open_target([], db=db, scope=Scope.of(Filters(), now, 30, tls=True)) as target:
        result = diagnose(target, Filters(), DiagnoseOptions(now, 30, correlator))
        tops, mix = overview(target), tls_mix(target)
    window = change_window(result)
    if window is not None:
        read = read_folder(trail[0], *window)
        # As a user who knows the listener and its trust store would give them (--listener-arn,
        # --trust-store-arn): the demo's trail has no ModifyListener tying the two.
        scope = ChangeScope(listeners=frozenset({LISTENER}), trust_stores=frozenset({TRUST_STORE}))
        index = correlator.certs
        find = (lambda serial: index.find(serial, None)) if index else None
        result = attach_causes(result, read, FolderVersions(trail[1]), scope, find_chain=find)
    report = out / "report.html"
    page = render_html(result, tops, title="mtls-doctor demo incident", tls=mix)
    report.write_text(page, "utf-8")
    as_json = out / "diagnosis.json"
    as_json.write_text(json.dumps(result.to_dict(), indent=2) + "\n", "utf-8")
    return DemoResult(out, db, report, as_json, log_dir, pki.out_dir, sent, changed_at, result,
                      time.monotonic() - began)  # fmt: skip
