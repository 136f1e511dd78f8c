"""Every dashboard route in-process: HTML and JSON twins, filters, paging, errors."""

from __future__ import annotations

import csv
import io

import pytest

from tests.web.conftest import Client
from tests.web.logdata import EXPIRED_SERIAL, SOON_SERIAL


def test_overview_html_has_charts_tables_and_filter_form(client: Client) -> None:
    status, page = client.html("/")
    assert status == 200
    assert '<svg class="chart timeline"' in page and 'data-code="ClientCertUntrusted"' in page
    assert '<form class="filters"' in page and 'name="listener_port"' in page
    assert "/client/203.0.113.9" in page and f"/cert/{EXPIRED_SERIAL}" in page
    assert SOON_SERIAL in page  # expiring soon
    assert "<script src" not in page and "<link" not in page


def test_overview_json_matches_filters(client: Client) -> None:
    status, data = client.json("/api/overview")
    assert status == 200 and data["schema_version"] == 1
    assert data["diagnosis"]["summary"]["failed"] == 80
    tops = {c["client_ip"]: c["count"] for c in data["top_clients"]}
    assert tops == {"198.51.100.10": 20, "198.51.100.11": 20, "198.51.100.12": 20,
                    "203.0.113.9": 20}  # fmt: skip
    assert data["data_state"]["current"] is True
    # Near miss: the same page filtered to one code counts only that code.
    _, only = client.json("/api/overview?status=ClientCertExpired")
    assert only["diagnosis"]["summary"]["failed"] == 20
    assert [f["code"] for f in only["diagnosis"]["failures"]] == ["ClientCertExpired"]


def test_overview_filters_by_time_and_port(client: Client) -> None:
    _, before = client.json("/api/overview?until=2024-04-05T17:40:00Z")
    assert [f["code"] for f in before["diagnosis"]["failures"]] == ["ClientCertExpired"]
    _, port = client.json("/api/overview?listener_port=8443")
    _, other = client.json("/api/overview?listener_port=443")
    total = (
        port["diagnosis"]["summary"]["connections"] + other["diagnosis"]["summary"]["connections"]
    )
    assert total == 500 and port["diagnosis"]["summary"]["connections"] == 100


def test_connections_paging_sorting_and_filters(client: Client) -> None:
    _, first = client.json("/api/connections?per_page=10&sort=client_ip&order=asc")
    assert first["total"] == 500 and first["pages"] == 50 and len(first["rows"]) == 10
    assert first["rows"][0]["client_ip"] == "198.51.100.10"
    _, last = client.json("/api/connections?per_page=10&page=50&sort=client_ip&order=asc")
    assert last["rows"][-1]["client_ip"] == "203.0.113.9"
    _, failed = client.json("/api/connections?status=failed&client_ip=198.51.100.0/24")
    assert failed["total"] == 60
    assert {r["error_code"] for r in failed["rows"]} == {"ClientCertUntrusted"}
    status, page = client.html("/connections?status=ClientCertExpired")
    assert status == 200 and '<table id="connections">' in page and "20 connection(s)" in page


def test_connections_csv_export_streams_every_matching_row(client: Client) -> None:
    status, headers, body = client.get("/connections.csv?status=failed&sort=timestamp")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 80 and rows[0]["timestamp"] > rows[-1]["timestamp"]
    _, _, none = client.get("/connections.csv?client_ip=192.0.2.1")
    assert none.decode().count("\n") == 1  # the header only


def test_code_pages(client: Client) -> None:
    status, page = client.html("/code/ClientCertUntrusted")
    assert status == 200 and 'id="code-ClientCertUntrusted"' in page and "first appeared" in page
    _, data = client.json("/api/code/clientcertuntrusted")
    assert (
        data["code"] == "ClientCertUntrusted" and data["catalogue"]["key"] == "ClientCertUntrusted"
    )
    assert data["failure"]["count"] == 60 and data["failure"]["change"]["kind"] == "appeared"
    # A documented code with no failures still explains itself.
    status, page = client.html("/code/ClientCertCrlHit")
    assert status == 200 and "No connection failed with this code" in page
    assert client.json("/api/code/ClientCertCrlHit")[1]["failure"] is None


def test_a_code_aws_added_later_has_its_page_even_when_close_to_a_documented_one(
    client: Client,
) -> None:
    # Bare, as the dashboard links it: not a typo of ClientCertExpired, a code as logged.
    status, data = client.json("/api/code/ClientCertExpiredSoon")
    assert status == 200 and data["code"] == "ClientCertExpiredSoon"
    assert data["failure"] is None
    assert client.json("/api/code/%3Cscript%3E")[0] == 400


def test_client_page_follows_the_workflow(client: Client) -> None:
    status, page = client.html("/client/198.51.100.10")
    assert status == 200
    for step in ("What it got", "When", "certificates it presented", "what to do", "Latest"):
        assert step in page
    _, data = client.json("/api/client/198.51.100.10")
    assert data["diagnosis"]["summary"]["connections"] == 60
    assert {c["tls_verify_status"] for c in data["certificates"]} == {
        "Success",
        "Failed:ClientCertUntrusted",
    }
    assert len(data["recent"]) == 20
    # Near miss: a client whose connections all work has no failure section.
    _, fine = client.json("/api/client/198.51.100.15")
    assert fine["diagnosis"]["failures"] == []


def test_certificate_page(client: Client) -> None:
    _, data = client.json(f"/api/cert/{EXPIRED_SERIAL.lower()}")
    assert data["serial"] == "DEAD1" and data["verdict"] is None
    assert data["clients"][0]["client_ip"] == "203.0.113.9"
    status, page = client.html(f"/cert/{EXPIRED_SERIAL}")
    assert status == 200 and "No verdict" in page and "ClientCertExpired" in page


@pytest.mark.parametrize(
    "url",
    [
        "/api/connections?listener_port=http",
        "/api/connections?listener_port=70000",
        "/api/connections?page=0",
        "/api/connections?per_page=100000",
        "/api/connections?sort=password",
        "/api/connections?order=sideways",
        "/api/overview?since=yesterday",
        "/api/overview?since=2024-04-05T18:00Z&until=2024-04-05T17:00Z",
        "/api/overview?client_ip=not-an-ip",
        "/api/overview?status=Failed:%3Cscript%3E",
        "/api/overview?serial=xyz",
        "/api/overview?since=%ff%fe",
        "/api/client/999.1.1.1",
        "/api/cert/not-hex",
        "/api/code/Success",
    ],
)
def test_malformed_parameters_get_400_with_a_message(client: Client, url: str) -> None:
    status, data = client.json(url)
    assert status == 400 and data["error"]
    html_status, page = client.html(url.replace("/api", "", 1))
    assert html_status == 400 and 'id="error"' in page


def test_unknown_pages_and_methods(client: Client) -> None:
    assert client.json("/api/nothing")[0] == 404
    assert client.html("/client")[0] == 404  # the page needs an address
    assert client.get("/", method="POST")[0] == 405


def test_values_are_escaped(client: Client) -> None:
    status, page = client.html("/connections?subject=%3Cb%3Ex")
    assert status == 200 and "<b>x" not in page and "&lt;b&gt;x" in page
