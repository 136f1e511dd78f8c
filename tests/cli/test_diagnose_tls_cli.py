"""``diagnose --tls``: the TLS section (protocol, cipher and key-exchange mix, PQ share,
clients on TLS 1.0/1.1) from the prepared TLS handshakes table, alike over every source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.tlscorpus import TLS_CONNECTIONS, write_tls_logs

AT = ("--at", "2024-04-06T00:00:00Z")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tls_logs(tmp_path_factory.mktemp("tls") / "logs")


def _json(*args: str) -> dict[str, Any]:
    code, out, err = run("diagnose", *args, *AT, "--format", "json")
    assert code == 1, err  # the corpus holds 2 failed connections
    data: dict[str, Any] = json.loads(out)
    data.pop("generated_at")
    return data


def test_tls_section_json(logs: Path) -> None:
    tls = _json(str(logs), "--tls")["tls"]
    assert tls["connections"] == TLS_CONNECTIONS
    assert [(p["tls_protocol"], p["connections"]) for p in tls["protocols"]] == [
        ("TLSv1.2", 7),
        ("TLSv1.3", 5),
        ("TLSv1.1", 3),
        ("TLSv1", 2),
    ]
    pq = [k for k in tls["key_exchanges"] if k["pq"]]
    assert [k["tls_keyexchange"] for k in pq] == ["X25519MLKEM768"]
    assert tls["pq_connections"] == 5 and tls["pq_share"] == round(5 / 17, 4)
    assert tls["legacy_connections"] == 5 and tls["legacy_client_count"] == 2
    assert [(c["client_ip"], c["tls_protocol"]) for c in tls["legacy_clients"]] == [
        ("198.51.100.3", "TLSv1.1"),
        ("198.51.100.4", "TLSv1"),
    ]


def test_tls_section_is_the_same_from_every_source(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = _json(str(logs), "--tls")
    plain = _json(str(logs))
    assert "tls" not in plain
    # Reading the handshakes (no folding) changes nothing else in the diagnosis.
    assert {k: v for k, v in compiled.items() if k != "tls"} == plain
    db = tmp_path / "s.duckdb"
    assert run("ingest", str(logs), "--db", str(db))[0] == 0
    assert _json("--db", str(db), "--tls")["tls"] == compiled["tls"]
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    assert _json(str(logs), "--tls") == compiled


def test_tls_section_text_and_markdown(logs: Path) -> None:
    code, out, _ = run("diagnose", str(logs), "--tls", *AT)
    assert code == 1
    assert f"TLS ({TLS_CONNECTIONS} handshake(s))" in out
    assert "post-quantum key exchange (ML-KEM): 5 of 17 (29.4%)" in out
    assert "X25519MLKEM768" in out and "PQ" in out
    assert "clients on TLS 1.0/1.1: 2 client(s), 5 connection(s)" in out
    code, out, _ = run("diagnose", str(logs), "--tls", *AT, "--format", "markdown")
    assert code == 1 and "## TLS" in out
    code, out, _ = run("diagnose", str(logs), *AT)
    assert "post-quantum" not in out


def test_report_has_the_tls_section_by_default(logs: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "r.html"
    code, out, err = run("report", str(logs), *AT, "-o", str(out_file))
    assert code == 1 and out.strip() == str(out_file)
    assert "19 connections, 2 failed, 1 code(s)" in err  # 17 of them TLS
    page = out_file.read_text(encoding="utf-8")
    assert '<h2 id="tls">TLS</h2>' in page and "X25519MLKEM768" in page
    assert "29.4%" in page  # the PQ share: 5 of the 17 handshakes
    assert "198.51.100.3" in page.split('id="tls"')[1]  # a client on TLS 1.1
    # --tls is still accepted (the default); --no-tls leaves the section out.
    code, _, _ = run("report", str(logs), "--tls", *AT, "-o", str(out_file))
    assert code == 1 and '<h2 id="tls">TLS</h2>' in out_file.read_text(encoding="utf-8")
    code, out, err = run("report", str(logs), "--no-tls", *AT, "-o", str(out_file))
    assert code == 1 and out.strip() == str(out_file), err
    assert 'id="tls"' not in out_file.read_text(encoding="utf-8")


def test_diagnose_keeps_tls_opt_in_for_a_store_too(logs: Path, tmp_path: Path) -> None:
    """Files and a store answer `diagnose` with the same JSON: no `tls` unless asked."""
    db = tmp_path / "s.duckdb"
    assert run("ingest", str(logs), "--db", str(db))[0] == 0
    from_store = _json("--db", str(db))
    assert "tls" not in from_store and from_store == _json(str(logs))
    code, out, _ = run("diagnose", "--help")
    assert code == 0 and "--db too, so that the same logs give the same JSON" in " ".join(
        out.split()
    )
    code, out, _ = run("report", "--help")
    assert code == 0 and "--tls / --no-tls" in out and "[default: tls]" in out
