"""``policy check`` and ``policy check --compare`` from the command line: files, a store,
and bad input (exit code, JSON on stdout, one line on stderr, no traceback)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.tlscorpus import NOW, T0, TLS_CONNECTIONS, line, write_tls_logs

RES = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tls_logs(tmp_path_factory.mktemp("tls") / "logs")


def _json(*args: str, code: int = 1) -> Any:
    got, out, err = run("policy", "check", *args, "--format", "json")
    assert got == code, err
    return json.loads(out)


def test_check_json_lists_refused_clients_and_exits_1(logs: Path) -> None:
    data = _json(RES, str(logs))
    assert set(data) >= {
        "schema_version",
        "policy",
        "connections",
        "refused_connections",
        "clients",
        "handshakes",
    }
    assert data["policy"] == RES and data["connections"] == TLS_CONNECTIONS
    assert data["refused_connections"] == 6
    assert list(data["clients"][0]) == [
        "client_ip",
        "tls_protocol",
        "tls_cipher",
        "connections",
        "last_seen",
        "reason",
    ]
    assert data["clients"][0]["client_ip"] == "198.51.100.3"


def test_check_text_and_stderr_summary(logs: Path) -> None:
    code, out, err = run("policy", "check", "TLS13-1-2-Res-2021-06", str(logs))
    assert code == 1
    assert out.startswith(f"{RES}: 6 of {TLS_CONNECTIONS} TLS connection(s) would be refused")
    assert "198.51.100.3" in out and "TLSv1.1 not offered" in out
    assert "By protocol and cipher:" in out and "REFUSED" in out
    assert "17 TLS connection(s) examined" in err


def test_a_policy_that_refuses_none_exits_0(logs: Path) -> None:
    data = _json("ELBSecurityPolicy-TLS13-1-0-2021-06", str(logs), code=0)
    assert data["refused_connections"] == 0 and data["clients"] == []


def test_filters_narrow_the_handshakes(logs: Path) -> None:
    data = _json(RES, str(logs), "--client-ip", "203.0.113.9")
    assert data["connections"] == 1 and data["clients"][0]["reason"] == (
        "cipher AES128-SHA not offered"
    )


def test_store_gives_the_files_answer(logs: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    code, _, err = run("ingest", str(logs), "--db", str(db))
    assert code == 0, err
    assert _json(RES, "--db", str(db)) == _json(RES, str(logs))


def test_compare_old_new(logs: Path) -> None:
    data = _json("--compare", "ELBSecurityPolicy-2016-08", RES, str(logs))
    assert data["old"] == "ELBSecurityPolicy-2016-08" and data["new"] == RES
    assert data["newly_refused_connections"] == 6
    assert [c["client_ip"] for c in data["no_longer_refused"]] == ["198.51.100.1"]
    code, out, _ = run("policy", "check", "--compare", RES, "TLS13-1-0-2021-06", str(logs))
    assert code == 0 and "newly refused:     0 connection(s)" in out
    assert "No longer refused (were refused under" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("TLS13-1-2-Res-2012-06",), "nearest: ELBSecurityPolicy-TLS13-1-2-Res-2021-06"),
        (("",), "POLICY is empty"),
        (("\x00\x01\xff junk",), "not shown"),
        ((KEY,), "not shown"),
        ((), "POLICY is missing"),
        (("--compare", RES, "TLS13-1-2-Res-2012-06"), "nearest"),
    ],
)
def test_bad_policy_names_are_exit_2(logs: Path, args: tuple[str, ...], needle: str) -> None:
    code, out, err = run("policy", "check", *args, str(logs), "--format", "json")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and needle in err
    assert "Traceback" not in err and "MIIEvQ" not in err


def test_logs_without_tls_fields_are_exit_3(tmp_path: Path) -> None:
    plain = [line(T0, "192.0.2.8", None, None, None, "-") for _ in range(3)]
    path = write_tls_logs(tmp_path, plain)
    code, out, err = run("policy", "check", RES, str(path), "--format", "json")
    assert code == 3 and out == ""
    assert "no TLS handshake among the 3 connection(s) selected" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "content", [b"\x00\x01\x02\xff" * 64, KEY.encode(), b""], ids=["junk", "key", "empty"]
)
def test_unreadable_logs_are_exit_3(tmp_path: Path, content: bytes) -> None:
    path = write_tls_logs(tmp_path, ["x"])
    path.write_bytes(gzip.compress(content))
    code, out, err = run("policy", "check", RES, str(path), "--format", "json")
    assert code == 3 and out == ""
    assert "error: " in err and "Traceback" not in err and "MIIEvQ" not in err


def test_a_window_with_no_connection_is_exit_3(logs: Path) -> None:
    code, out, err = run(
        "policy",
        "check",
        RES,
        str(logs),
        "--since",
        "2020-01-01T00:00:00Z",
        "--until",
        "2020-01-02T00:00:00Z",
    )
    assert code == 3 and out == ""
    assert "no connections between" in err


def test_now_is_not_used_by_the_corpus() -> None:
    assert NOW > T0  # the corpus's times are absolute: the CLI's clock does not matter
