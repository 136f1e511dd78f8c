"""The parser: every documented quirk as a case, each followed by a near miss."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.errors import LogFormatError
from mtls_doctor.logs.api import ReadStats, open_selection
from mtls_doctor.logs.query import Filters
from tests.conftest import write_log
from tests.logs.corpus import AWS_FAILED, AWS_SUCCESS, PLAIN_HTTP, TLS_NO_MTLS, line


def parse(
    tmp_path: Path, lines: list[str] | bytes, **kw: Any
) -> tuple[list[dict[str, Any]], ReadStats]:
    path = write_log(tmp_path / "conn_log_t.log", lines)
    with open_selection([str(path)], **kw) as sel:
        rows = list(sel.iter_rows(Filters()))
        return rows, sel.stats


def test_aws_example_lines_12_fields(tmp_path: Path) -> None:
    rows, stats = parse(tmp_path, [AWS_SUCCESS, AWS_FAILED])
    ok, failed = rows
    assert ok["timestamp"] == datetime(2023, 10, 4, 17, 5, 15, 514108)
    assert ok["client_port"] == 36280 and ok["listener_port"] == 443
    assert ok["tls_handshake_latency"] == pytest.approx(4.036)
    assert ok["leaf_client_cert_subject"].startswith("CN=amazondomains.com,O=endEntity")
    assert ok["not_before"] == datetime(2023, 9, 21, 22, 43, 21)
    assert ok["not_after"] == datetime(2026, 6, 17, 22, 43, 21)
    assert ok["verify_result"] == "success" and ok["error_code"] is None
    assert ok["tls_keyexchange"] is None and ok["elb"] is None and ok["field_count"] == 12
    assert failed["tls_handshake_latency"] is None
    assert failed["verify_result"] == "failed"
    assert failed["error_code"] == "ClientCertUntrusted"
    assert failed["tls_verify_status"] == "Failed:ClientCertUntrusted"
    assert stats.malformed == 0 and stats.unknown_code_lines == 0


def test_fifteen_fields_in_order(tmp_path: Path) -> None:
    (row,), _ = parse(tmp_path, [TLS_NO_MTLS])
    assert row["leaf_client_cert_subject"] is None  # "-" quoted is null
    assert row["leaf_client_cert_validity"] is None and row["not_before"] is None
    assert row["tls_keyexchange"] == "secp256r1"
    assert row["elb"] == "app/k8s-tileserver-617dd1df30/98e3a879de9d6b42"
    assert row["ip_address"] == "3.228.177.57"
    assert row["conn_trace_id"] == "TID_9f39d9aa6a47774d97089313f949866b"


def test_plain_http_dash_is_null_everywhere(tmp_path: Path) -> None:
    (row,), _ = parse(tmp_path, [PLAIN_HTTP])
    assert row["verify_result"] == "not_tls"
    for name in ("tls_protocol", "tls_cipher", "tls_handshake_latency", "tls_keyexchange"):
        assert row[name] is None
    assert row["leaf_client_cert_serial_number"] is None


def test_thirteen_fields(tmp_path: Path) -> None:
    (row,), _ = parse(tmp_path, [AWS_SUCCESS + " X25519MLKEM768"])
    assert row["tls_keyexchange"] == "X25519MLKEM768" and row["elb"] is None


def test_extra_fields_kept_to_15_and_counted(tmp_path: Path) -> None:
    rows, stats = parse(tmp_path, [line(tail=" k e 10.0.0.1 new1 new2"), line()])
    assert rows[0]["ip_address"] == "10.0.0.1"
    assert stats.extra_field_lines == 1 and stats.malformed == 0


def test_subject_with_spaces_commas_equals(tmp_path: Path) -> None:
    (row,), _ = parse(tmp_path, [line(subject='"CN=a b,O=Example, Inc.,OU=x=y"')])
    assert row["leaf_client_cert_subject"] == "CN=a b,O=Example, Inc.,OU=x=y"
    assert row["error_code"] == "ClientCertExpired"  # fields after the subject stay aligned


def test_unquoted_dash_subject_is_null(tmp_path: Path) -> None:
    (row,), _ = parse(tmp_path, [line(subject="-")])
    assert row["leaf_client_cert_subject"] is None and row["serial_key"] == "AB12"


def test_crlf_trailing_space_and_blank_lines(tmp_path: Path) -> None:
    data = (AWS_SUCCESS + " \r\n\r\n   \n" + AWS_FAILED + "\r\n").encode()
    rows, stats = parse(tmp_path, data)
    assert [r["verify_result"] for r in rows] == ["success", "failed"]
    assert stats.malformed == 0


def test_serial_normalised_upper_hex_compared_numerically(tmp_path: Path) -> None:
    rows, _ = parse(tmp_path, [line(serial="00ab12"), line(serial="AB13")])
    assert rows[0]["leaf_client_cert_serial_number"] == "00AB12"
    with open_selection([str(tmp_path / "conn_log_t.log")]) as sel:
        hits = list(sel.iter_rows(Filters(serial="0xab12")))
        assert [h["leaf_client_cert_serial_number"] for h in hits] == ["00AB12"]
        assert list(sel.iter_rows(Filters(serial="ab14"))) == []  # near miss


def test_ipv6_client(tmp_path: Path) -> None:
    (row,), stats = parse(tmp_path, [line(ip="2001:db8::9"), line(ip="2001:db8::g")])
    assert row["client_ip"] == "2001:db8::9"
    assert stats.malformed == 1 and "client_ip" in stats.issues[0].message


def test_unknown_code_is_data_not_error(tmp_path: Path) -> None:
    rows, stats = parse(tmp_path, [line(status="Failed:ClientCertBrandNew"), line()])
    assert rows[0]["error_code"] == "ClientCertBrandNew" and rows[0]["verify_result"] == "failed"
    assert stats.unknown_code_lines == 1 and stats.malformed == 0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("garbage", "only 1 fields"),
        (line(ts="2024-04-05 18:00:01Z"), "not field 8"),
        (line(ts="2024-02-30T18:00:01Z"), "timestamp"),
        (line(ts="2024-04-05T18:00:01+02:00"), "timestamp"),
        (line(ip="999.1.1.1"), "client_ip"),
        (line(port="70000"), "listener_port"),
        (line(serial="XYZ"), "hexadecimal"),
        (line(status="Failed"), "tls_verify_status"),
        (line(subject='"CN=a"b"'), "double quotes"),
        (line(subject='"CN=a b'), "double quotes"),
        (line(tail="  x25519 app/lb/1 10.0.0.1"), "empty field 13"),
        (line().replace("NotBefore=2024-01-01T00:00:00Z", "NotBefore=x"), "validity"),
    ],
)
def test_malformed_line_reported_with_file_line_reason(
    tmp_path: Path, bad: str, reason: str
) -> None:
    rows, stats = parse(tmp_path, [line(), bad, line()])
    assert len(rows) == 2  # reading goes on
    (issue,) = stats.issues
    assert issue.file.endswith("conn_log_t.log") and issue.line == 2
    assert reason in issue.message


def test_strict_stops_at_first_malformed_line(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError) as caught:
        parse(tmp_path, [line(), "garbage", "more garbage"], strict=True)
    assert caught.value.line == 2 and caught.value.exit_code == 3
    rows, _ = parse(tmp_path, [line(), line()], strict=True)  # near miss: clean file passes
    assert len(rows) == 2


def test_control_char_and_bom_lines_located(tmp_path: Path) -> None:
    data = "\ufeff".encode() + (line() + "\n" + line().replace("CN=", "CN=\x01") + "\n").encode()
    rows, stats = parse(tmp_path, data)
    assert len(rows) == 1
    assert [(i.line, "U+0001" in i.message) for i in stats.issues] == [(2, True)]
