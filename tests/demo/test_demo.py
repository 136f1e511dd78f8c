"""The demo job: a real sandbox on 127.0.0.1, many client addresses, a change to find."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtls_doctor.demo import run_demo
from mtls_doctor.demo.run import POPULATION
from mtls_doctor.demo.traffic import SimClock, client_address
from mtls_doctor.diagnose.target import StoreRows
from mtls_doctor.logs.store import Store


def test_demo_finds_the_trust_store_change_and_leaves_nothing_running(tmp_path: Path) -> None:
    threads = set(threading.enumerate())
    result = run_demo(tmp_path / "out", before_minutes=6, after_minutes=4)
    codes = {g.code: g for g in result.diagnosis.failures}
    assert {"ClientCertUntrusted", "ClientCertCrlHit", "ClientCertExpired"} <= set(codes)
    changed_at = result.changed_at.replace(tzinfo=None)
    untrusted = codes["ClientCertUntrusted"].change
    assert untrusted is not None and untrusted.kind == "appeared" and untrusted.at >= changed_at
    assert untrusted.p_value < 0.0005
    # The revoked clients' few failures in 4 minutes may be too few to claim (docs/diagnosis.md),
    # but a claim is never placed before the change.
    crl = codes["ClientCertCrlHit"].change
    assert crl is None or crl.at >= changed_at
    # Near miss: the steady failure was there from the start, so it is no change.
    assert codes["ClientCertExpired"].change is None
    assert any(w.kind == "expiring_soon" for w in result.diagnosis.warnings)
    assert result.report.read_text().startswith("<!DOCTYPE html>")
    with _rows(result.db) as target:
        clients = target.fetch(f"SELECT count(DISTINCT client_ip) FROM {target.relation}")[0][0]
    assert clients == sum(n for _, n, _ in POPULATION)
    # Nothing left: no new thread, the listener port is free again.
    leftover = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not leftover
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", _port(result.db))) != 0


@contextmanager
def _rows(db: Path) -> Iterator[StoreRows]:
    store = Store.open_read_only(db)
    try:
        yield StoreRows(store)
    finally:
        store.close()


def _port(db: Path) -> int:
    with _rows(db) as target:
        return int(target.fetch(f"SELECT max(listener_port) FROM {target.relation}")[0][0])


def test_rerun_replaces_the_previous_demo(tmp_path: Path) -> None:
    first = run_demo(tmp_path, before_minutes=3, after_minutes=2, seed=1)
    second = run_demo(tmp_path, before_minutes=3, after_minutes=2, seed=1)
    assert second.diagnosis.summary.connections == first.diagnosis.summary.connections
    # The kept object versions start afresh too (two bundle versions, not four).
    kept = tmp_path / "s3-versions/demo-pki-artifacts/trust-store/ca-bundle.pem/_versions.txt"
    assert len(kept.read_text().split()) == 2


def test_vended_json_logs_give_the_same_diagnosis(tmp_path: Path) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    legacy = run_demo(tmp_path / "legacy", now=now, before_minutes=3, after_minutes=2, seed=1)
    vended = run_demo(
        tmp_path / "json", now=now, before_minutes=3, after_minutes=2, seed=1, log_format="json"
    )
    files = [p.name for p in (tmp_path / "json/logs").rglob("*") if p.is_file()]
    assert files and all(name.endswith(".json.gz") for name in files)
    assert vended.diagnosis.summary.connections == legacy.diagnosis.summary.connections > 0
    assert vended.diagnosis.summary.failed == legacy.diagnosis.summary.failed > 0
    # Serials, keys and sub-second times differ from run to run; the counts do not.
    assert shape(vended.diagnosis.to_dict()) == shape(legacy.diagnosis.to_dict())


def shape(report: dict[str, Any]) -> dict[str, Any]:
    summary = {k: v for k, v in report["summary"].items() if not k.endswith("_seen")}
    failures = [
        (f["code"], f["count"], f["clients"], [c["client_ip"] for c in f["top_clients"]])
        for f in report["failures"]
    ]
    return {"summary": summary, "by_status": report["by_status"], "failures": failures}


def test_client_addresses_are_distinct_loopback() -> None:
    addresses = [client_address(i) for i in range(600)]
    assert len(set(addresses)) == 600
    assert all(a.startswith("127.") for a in addresses)


def test_sim_clock_stays_inside_its_minute() -> None:
    at = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    clock = SimClock(at)
    assert at <= clock() < at.replace(minute=1)


def test_demo_has_a_legacy_client_that_a_tls12_policy_refuses(demo_out: Path) -> None:

    from click.testing import CliRunner

    from mtls_doctor.cli import cli

    legacy = client_address(sum(n for name, n, _ in POPULATION[:1]))  # right after success-root
    assert POPULATION[1][0] == "legacy-tls"
    args = ["policy", "check", "ELBSecurityPolicy-TLS13-1-2-2021-06", str(demo_out / "logs")]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["refused_connections"] > 0 and data["refused_clients"] == 1
    [refused] = {c["client_ip"] for c in data["clients"]}
    assert refused == legacy
    client = data["clients"][0]
    # TLS 1.1 where the local OpenSSL negotiates it, else TLS 1.2 with a CBC cipher.
    assert client["tls_protocol"] == "TLSv1.1" or "-SHA" in client["tls_cipher"]
    assert "not offered" in client["reason"]
    assert "would be refused by ELBSecurityPolicy-TLS13-1-2-2021-06" in result.stderr
    # The demo's report lists it in its TLS section (the report has one by default).
    section = (demo_out / "report.html").read_text(encoding="utf-8").split('id="tls"')[1]
    assert (legacy if client["tls_protocol"] == "TLSv1.1" else client["tls_cipher"]) in section
