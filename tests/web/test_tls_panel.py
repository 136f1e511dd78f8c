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
