"""The probe's pure helpers: URL and request parsing, alert names, host names, HTTP answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mtls_doctor.errors import UsageError
from mtls_doctor.pki.issue import CertSpec, generate_key, issue
from mtls_doctor.probe.assess import hostname_problem
from mtls_doctor.probe.http import parse_request, parse_response
from mtls_doctor.probe.identity import parse_endpoint
from mtls_doctor.probe.tls import alert_from_error

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_parse_endpoint() -> None:
    e = parse_endpoint("https://api.example.com:8443/v1?x=1")
    assert (e.host, e.port, e.path, e.servername) == (
        "api.example.com",
        8443,
        "/v1?x=1",
        "api.example.com",
    )
    bare = parse_endpoint("10.0.0.5")
    assert (bare.port, bare.servername, bare.path) == (443, None, "/")  # no SNI for an IP
    v6 = parse_endpoint("https://[::1]:9443", servername="api.test")
    assert (v6.host, v6.hostport, v6.servername) == ("::1", "[::1]:9443", "api.test")


@pytest.mark.parametrize("url", ["http://api.example.com", "https://", "https://h:99999"])
def test_parse_endpoint_refuses(url: str) -> None:
    with pytest.raises(UsageError):
        parse_endpoint(url)


def test_parse_request() -> None:
    assert parse_request(None, "/x") == ("GET", "/x")
    assert parse_request("head /health", "/") == ("HEAD", "/health")
    assert parse_request("POST", "/p") == ("POST", "/p")
    with pytest.raises(UsageError):
        parse_request("GET health", "/")  # near miss: no leading slash


def test_alert_from_error() -> None:
    assert alert_from_error("[('SSL routines', '', 'tlsv13 alert certificate required')]") == (
        "certificate_required"
    )
    assert alert_from_error("sslv3 alert bad certificate") == "bad_certificate"
    assert alert_from_error("ssl/tls alert unknown ca") == "unknown_ca"
    assert alert_from_error("wrong version number") is None


def test_hostname_problem() -> None:
    spec = CertSpec(
        "srv",
        AT,
        AT + timedelta(days=1),
        eku="serverAuth",
        dns_names=("*.example.com", "api.test"),
        ip_addresses=("127.0.0.1",),
    )
    cert = issue(spec, None, generate_key("ec256")).cert
    assert hostname_problem(cert, "a.example.com") is None
    assert hostname_problem(cert, "API.test") is None
    assert hostname_problem(cert, "127.0.0.1") is None
    assert hostname_problem(cert, "a.b.example.com") is not None  # one label only
    assert hostname_problem(cert, "example.com") is not None
    assert hostname_problem(cert, "127.0.0.2") is not None


def test_parse_response_completeness_and_echoed_headers() -> None:
    body = b'{"headers": {"X-Amzn-Mtls-Clientcert-Subject": "CN=c", "Host": "h"}}'
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Amzn-Trace-Id: t\r\n\r\n" % len(body)
    whole = parse_response(raw + body, "GET", 1024)
    assert whole.complete and whole.answer is not None and whole.answer.status == 200
    assert dict(whole.answer.mtls_headers) == {
        "X-Amzn-Trace-Id": "t",
        "X-Amzn-Mtls-Clientcert-Subject": "CN=c",
    }
    part = parse_response(raw + body[:5], "GET", 1024)
    assert not part.complete  # near miss: body not all there yet
    assert parse_response(b"garbage\r\n\r\n", "GET", 10).answer is None
