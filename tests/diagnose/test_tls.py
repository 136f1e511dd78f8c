"""The policy questions over the prepared TLS handshakes table: the same answer from files
(compiled scanner and pure path), a store and Athena, and the answer the corpus implies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mtls_doctor.athena.dialect import DayRange
from mtls_doctor.athena.target import AthenaTarget, prepare
from mtls_doctor.diagnose.source import Scope
from mtls_doctor.diagnose.target import open_target
from mtls_doctor.diagnose.tls import policy_check, policy_compare, tls_mix
from mtls_doctor.knowledge.policies import get_policy
from mtls_doctor.logs import native
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from tests.athena.fakeathena import TABLE, DuckRunner, load_table
from tests.diagnose.tlscorpus import KEY, NOW, T0, TLS_CONNECTIONS, tls_lines, write_tls_logs

RES = get_policy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
OLD = get_policy("ELBSecurityPolicy-2016-08")

FILTERS = [
    Filters(),
    # A window only: the compiled scanner would fold the successes into counts.
    Filters(since=T0, until=T0 + timedelta(hours=1)),
    Filters(client=parse_client("198.51.100.0/24")),
    Filters(client=parse_client("2001:db8::/32")),
    Filters(status=parse_status("success")),
]


def _answers(source: Any) -> dict[str, Any]:
    return {
        "check": policy_check(source, RES).to_dict(),
        "compare": policy_compare(source, OLD, RES).to_dict(),
        "mix": tls_mix(source).to_dict(),
    }


def _files(tmp_path: Path, filters: Filters) -> dict[str, Any]:
    path = write_tls_logs(tmp_path / "logs")
    with open_target([str(path)], db=None, scope=Scope.of(filters, NOW, tls=True)) as target:
        return _answers(target)


def _store(tmp_path: Path, filters: Filters) -> dict[str, Any]:
    db = tmp_path / "store.duckdb"
    if not db.exists():
        ingest_inputs([str(write_tls_logs(tmp_path / "logs"))], db, now=NOW)
    with open_target([], db=db, scope=Scope.of(filters, NOW, tls=True)) as target:
        return _answers(target)


def _athena(filters: Filters) -> dict[str, Any]:
    con = duckdb.connect()
    load_table(con, {KEY: tls_lines()})
    target = AthenaTarget(DuckRunner(con), TABLE, DayRange.around(filters.since, filters.until))
    tables = prepare(target, filters, now=NOW, warn_days=30, tls=True)
    try:
        return _answers(tables)
    finally:
        tables.close()


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: repr(f)[:60])
def test_every_source_gives_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filters: Filters
) -> None:
    assert native.available(), "the compiled scanner is part of the parity"
    compiled = _files(tmp_path / "c", filters)
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    pure = _files(tmp_path / "p", filters)
    monkeypatch.delenv("MTLS_DOCTOR_PURE")
    store = _store(tmp_path / "s", filters)
    athena = _athena(filters)
    assert compiled == pure == store == athena
    assert compiled["check"]["connections"] > 0


def test_the_answer_is_the_corpus_s(tmp_path: Path) -> None:
    out = _files(tmp_path, Filters())["check"]
    assert out["schema_version"] == 1 and out["policy"] == RES.name
    assert out["connections"] == TLS_CONNECTIONS  # the 2 plain TCP connections are not TLS
    assert out["refused_connections"] == 6 and out["refused_clients"] == 3
    assert [(c["client_ip"], c["connections"]) for c in out["clients"]] == [
        ("198.51.100.3", 3),
        ("198.51.100.4", 2),
        ("203.0.113.9", 1),
    ]
    first = out["clients"][0]
    assert first["tls_protocol"] == "TLSv1.1" and first["tls_cipher"] == "ECDHE-RSA-AES128-SHA"
    assert first["reason"] == "TLSv1.1 not offered; cipher ECDHE-RSA-AES128-SHA not offered"
    assert first["last_seen"] == "2024-04-05T12:11:00Z"
    assert out["clients"][2]["reason"] == "cipher AES128-SHA not offered"
    pairs = {(g["tls_protocol"], g["tls_cipher"]): g for g in out["handshakes"]}
    assert pairs[("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")] == {
        "tls_protocol": "TLSv1.2",
        "tls_cipher": "ECDHE-RSA-AES128-GCM-SHA256",
        "connections": 6,
        "clients": 2,
        "refused": False,
        "reason": None,
    }
    assert pairs[("TLSv1", "AES128-SHA")]["refused"] is True


def test_compare_names_newly_and_no_longer_refused(tmp_path: Path) -> None:
    out = _files(tmp_path, Filters())["compare"]
    assert (out["old"], out["new"]) == (OLD.name, RES.name)
    assert [c["client_ip"] for c in out["newly_refused"]] == [
        "198.51.100.3",
        "198.51.100.4",
        "203.0.113.9",
    ]
    assert out["newly_refused_connections"] == 6
    # 2016-08 offers no TLS 1.3: the PQ client is refused there, not under the new policy.
    assert [(c["client_ip"], c["reason"]) for c in out["no_longer_refused"]] == [
        ("198.51.100.1", "TLSv1.3 not offered; cipher TLS_AES_128_GCM_SHA256 not offered")
    ]
    assert out["no_longer_refused_connections"] == 5 and out["still_refused_connections"] == 0


def test_the_docs_python_twin_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parents[2] / "docs" / "policies.md").read_text(encoding="utf-8")
    code = text.split("### In Python\n\n```python\n", 1)[1].split("```", 1)[0]
    write_tls_logs(tmp_path / "logs")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code, "docs/policies.md", "exec"), scope)
    assert scope["refused"] == [
        ("198.51.100.3", "TLSv1.1 not offered; cipher ECDHE-RSA-AES128-SHA not offered"),
        ("198.51.100.4", "TLSv1 not offered; cipher AES128-SHA not offered"),
        ("203.0.113.9", "cipher AES128-SHA not offered"),
    ]
    assert scope["newly"] == ["198.51.100.3", "198.51.100.4", "203.0.113.9"]
