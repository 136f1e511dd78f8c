"""Log writer, HTTP reader, headers and settings, without sockets."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from cryptography import x509

from mtls_doctor.errors import UsageError
from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.sandbox.config import SandboxConfig, parse_listen
from mtls_doctor.sandbox.headers import mtls_headers, strip_mtls_headers
from mtls_doctor.sandbox.http import HttpError, RequestReader
from mtls_doctor.sandbox.logwriter import (
    ConnLogWriter,
    LogNaming,
    end_time_label,
    interval_end,
    padded_ip,
)

T0 = datetime(2022, 2, 15, 23, 37, 12, tzinfo=UTC)


def _entry(at: datetime) -> LogEntry:
    return LogEntry(
        at,
        "203.0.113.1",
        36280,
        443,
        "TLSv1.2",
        "ECDHE-RSA-AES128-GCM-SHA256",
        None,
        None,
        None,
        None,
        None,
        "Failed:ClientCertUntrusted",
        "TID_" + "0" * 32,
        "secp256r1",
        "app/lb/0123456789abcdef",
        "10.0.0.1",
    )


def test_file_name_matches_the_aws_template() -> None:
    naming = LogNaming(
        "123456789012", "us-east-2", "my-loadbalancer", "1234567890abcdef", "172.160.1.192"
    )
    end = interval_end(T0, 300)
    path = naming.relative_path(end, datetime(2022, 5, 1, tzinfo=UTC), "20sg8hgm")
    assert str(path) == (
        "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2022/05/01/conn_log_123456789012_"
        "elasticloadbalancing_us-east-2_app.my-loadbalancer.1234567890abcdef_20220215T2340Z_"
        "172.160.001.192_20sg8hgm.log.gz"
    )


def test_interval_and_label_edges() -> None:
    assert interval_end(datetime(2022, 2, 15, 23, 40, tzinfo=UTC), 300).minute == 45
    assert end_time_label(datetime(2022, 2, 15, 23, 40, 1, tzinfo=UTC)) == "20220215T2341Z"
    assert padded_ip("::1") == "::1" and padded_ip("10.0.0.1") == "010.000.000.001"


def test_writer_rotates_and_loses_nothing_on_close(tmp_path: Path) -> None:
    naming = LogNaming("123456789012", "us-east-1", "lb", "0123456789abcdef", "127.0.0.1")
    now = [T0]
    writer = ConnLogWriter(tmp_path, naming, 60, lambda: now[0])
    writer.start(T0)
    writer.write(_entry(T0), T0)
    now[0] = T0.replace(minute=38, second=1)  # next interval: the first file is delivered
    writer.write(_entry(now[0]), now[0])
    assert len(writer.files) == 1
    writer.close(now[0])
    assert len(writer.files) == 2 and writer.lines_written == 2
    names = sorted(p.name for p in writer.files)
    assert "_20220215T2338Z_" in names[0] and "_20220215T2339Z_" in names[1]
    lines = [gzip.decompress(p.read_bytes()).decode() for p in writer.files]
    assert all(text.count("\n") == 1 for text in lines)
    assert not (tmp_path / ".partial").exists()


def test_writer_without_lines_writes_no_file(tmp_path: Path) -> None:
    naming = LogNaming("123456789012", "us-east-1", "lb", "0123456789abcdef", "127.0.0.1")
    writer = ConnLogWriter(tmp_path, naming, 60, lambda: T0)
    writer.start(T0)
    assert writer.close(T0) is None and writer.files == []


def _reader(data: bytes) -> RequestReader:
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    return RequestReader(lambda _n: chunks.pop(0) if chunks else b"", 1024)


def test_reader_handles_keep_alive_and_chunked_bodies() -> None:
    reader = _reader(
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    first, second = reader.read(), reader.read()
    assert first is not None and first.body == b"abcde" and first.keep_alive
    assert second is not None and second.target == "/b" and not second.keep_alive
    assert reader.read() is None


def test_reader_rejects_garbage_and_big_bodies() -> None:
    with pytest.raises(HttpError) as bad:
        _reader(b"NOT HTTP\r\n\r\n").read()
    assert bad.value.status == 400
    with pytest.raises(HttpError) as big:
        _reader(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").read()
    assert big.value.status == 413


def test_headers_per_mode(scenario_pki: ScenarioSet) -> None:
    scenario = scenario_pki.scenario("success-intermediate")
    chain = x509.load_pem_x509_certificates(scenario_pki.path(scenario.chain or "").read_bytes())
    verify = dict(mtls_headers("verify", chain, "+=/"))
    assert verify["X-Amzn-Mtls-Clientcert-Serial-Number"] == scenario.serial_number
    assert "%0A" in verify["X-Amzn-Mtls-Clientcert-Leaf"]
    assert "%3D" not in verify["X-Amzn-Mtls-Clientcert-Leaf"]
    strict = dict(mtls_headers("verify", chain, "/"))  # AWS's own example encodes '='
    assert unquote(strict["X-Amzn-Mtls-Clientcert-Leaf"]) == unquote(
        verify["X-Amzn-Mtls-Clientcert-Leaf"]
    )
    passthrough = dict(mtls_headers("passthrough", chain, "+=/"))
    assert list(passthrough) == ["X-Amzn-Mtls-Clientcert"]
    assert unquote(passthrough["X-Amzn-Mtls-Clientcert"]).count("BEGIN CERTIFICATE") == 2
    assert mtls_headers("verify", [], "+=/") == []


def test_strip_is_case_insensitive() -> None:
    kept = strip_mtls_headers([("x-amzn-MTLS-clientcert", "a"), ("X-Amzn-Trace-Id", "b")])
    assert kept == [("X-Amzn-Trace-Id", "b")]


def test_settings_are_checked(tmp_path: Path) -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    with pytest.raises(UsageError):
        parse_listen("8443")
    with pytest.raises(UsageError):
        SandboxConfig(log_dir=tmp_path)  # verify mode without a trust store
    SandboxConfig(log_dir=tmp_path, mode="passthrough")
    with pytest.raises(UsageError):
        SandboxConfig(log_dir=tmp_path, mode="passthrough", account_id="12")
    elb = SandboxConfig(log_dir=tmp_path, mode="passthrough", lb_name="x").elb
    assert elb.startswith("app/x/") and len(elb.rsplit("/", 1)[1]) == 16
