"""The dashboard's TLS panel: the overview of a store shows the TLS section of
``diagnose --tls`` (the same TlsMix, from the store's prepared TLS handshakes table)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.logs.ingest import ingest_inputs
from tests.diagnose.tlscorpus import NOW, write_tls_logs
from tests.web.conftest import Client, make_app


def test_overview_has_the_tls_panel_of_diagnose_tls(tmp_path: Path) -> None:
    logs = write_tls_logs(tmp_path / "logs")
    db = tmp_path / "tls.duckdb"
    ingest_inputs([str(logs)], db, now=NOW)
    (tmp_path / "work").mkdir()
    client = Client(make_app(db, tmp_path / "work"))
    status, data = client.json("/api/overview?since=2024-04-05T00:00:00Z")
    assert status == 200
    result = CliRunner().invoke(
        cli,
        ["diagnose", "--db", str(db), "--tls", "--since", "2024-04-05T00:00:00Z",
         "--at", "2024-04-06T00:00:00Z", "--format", "json"],
    )  # fmt: skip
    assert data["tls"] == json.loads(result.stdout)["tls"]
    assert data["tls"]["pq_connections"] == 5 and data["tls"]["legacy_client_count"] == 2
    status, page = client.html("/?since=2024-04-05T00:00:00Z")
    assert status == 200 and '<h2 id="tls">TLS</h2>' in page
    assert "X25519MLKEM768" in page and "198.51.100.4" in page.split('id="tls"')[1]


def test_client_page_shows_that_clients_protocol_and_cipher(tmp_path: Path) -> None:
    logs = write_tls_logs(tmp_path / "logs")
    db = tmp_path / "tls.duckdb"
    ingest_inputs([str(logs)], db, now=NOW)
    (tmp_path / "work").mkdir()
    client = Client(make_app(db, tmp_path / "work"))
    status, data = client.json("/api/client/198.51.100.3?since=2024-04-05T00:00:00Z")
    assert status == 200
    tls = data["tls"]
    assert tls["connections"] == 3
    assert [(p["tls_protocol"], p["connections"]) for p in tls["protocols"]] == [("TLSv1.1", 3)]
    assert [c["tls_cipher"] for c in tls["ciphers"]] == ["ECDHE-RSA-AES128-SHA"]
    assert [c["client_ip"] for c in tls["legacy_clients"]] == ["198.51.100.3"]
    status, page = client.html("/client/198.51.100.3?since=2024-04-05T00:00:00Z")
    assert status == 200 and "Its TLS handshakes" in page
    section = page.split('id="tls"')[1]
    assert "TLSv1.1" in section and "ECDHE-RSA-AES128-SHA" in section
    assert "TLSv1.3" not in section  # another client's protocol
    # A client without TLS handshakes in the selection says so.
    status, page = client.html("/client/192.0.2.77?since=2024-04-05T00:00:00Z")
    assert status == 200 and "No TLS handshake from this client" in page
