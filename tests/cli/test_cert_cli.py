"""cert inspect / cert check / trust-store check through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.fields import LogEntry
from tests.pki.pkihelpers import DAY, NOW, StandardPki, issue, key_pem, make_crl, write

AT = "2025-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def pki() -> StandardPki:
    return StandardPki.build("Cli")


@pytest.fixture
def files(pki: StandardPki, tmp_path: Path) -> dict[str, Path]:
    expired = issue("Cli Expired", pki.intermediate, not_after=NOW - DAY, serial=0xFEF2)
    return {
        "chain": write(tmp_path / "chain.pem", pki.leaf.pem + pki.intermediate.pem),
        "expired": write(tmp_path / "expired.pem", expired.pem + pki.intermediate.pem),
        "bundle": write(tmp_path / "bundle.pem", b"# roots\n" + pki.root.pem),
        "crl": write(tmp_path / "crl.pem", make_crl(pki.root).public_bytes(Encoding.PEM)),
        "garbage": write(tmp_path / "garbage.pem", b"\x00\x01 not a certificate"),
        "with_key": write(tmp_path / "with-key.pem", key_pem(pki.leaf) + pki.leaf.pem),
    }


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_inspect_json_and_text(files: dict[str, Path]) -> None:
    code, out, _ = run("cert", "inspect", str(files["chain"]), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 1
    certs = data["files"][0]["certificates"]
    assert certs[0]["subject"] == "O=mtls-doctor tests,CN=Cli Client" and certs[0]["signed_by"] == 1
    code, out, _ = run("cert", "inspect", str(files["chain"]))
    assert code == 0 and "SHA-256" in out and "leaf" in out


def test_inspect_ignores_a_private_key(files: dict[str, Path]) -> None:
    code, out, err = run("cert", "inspect", str(files["with_key"]))
    assert code == 0 and "private key" in err
    assert "PRIVATE" not in out and "PRIVATE" not in err


def test_missing_file_is_exit_3(tmp_path: Path) -> None:
    code, _, err = run("cert", "inspect", str(tmp_path / "nope.pem"))
    assert code == 3 and "nope.pem" in err


def test_inspect_garbage_is_exit_3(files: dict[str, Path]) -> None:
    code, out, err = run("cert", "inspect", str(files["garbage"]))
    assert code == 3 and out == ""
    assert "garbage.pem" in err and "Traceback" not in err


def test_check_success_then_expired(files: dict[str, Path]) -> None:
    base = ["cert", "check", "--trust-store", str(files["bundle"]), "--crl", str(files["crl"])]
    code, out, _ = run(*base, str(files["chain"]), "--at", AT, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == "Success" and data["schema_version"] == 1
    code, out, _ = run(*base, str(files["expired"]), "--at", AT, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "ClientCertExpired"
    assert data["findings"][0]["fix"]
    code, out, _ = run(*base, str(files["expired"]), "--at", AT, "--ignore-expiry")
    assert code == 0 and "waived" in out


def test_check_limit_option(files: dict[str, Path]) -> None:
    args = ["cert", "check", str(files["chain"]), "--trust-store", str(files["bundle"])]
    code, out, _ = run(*args, "--at", AT, "--limit", "max_chain_depth=2", "--format", "json")
    assert code == 1 and json.loads(out)["verdict"] == "ClientCertMaxChainDepthExceeded"
    code, _, err = run(*args, "--limit", "no_such_limit=1")
    assert code == 2 and "unknown limit" in err


def _log_line(status: str, serial: str) -> str:
    return LogEntry(
        timestamp=NOW,
        client_ip="203.0.113.9",
        client_port=50000,
        listener_port=443,
        tls_protocol="TLSv1.2",
        tls_cipher="ECDHE-RSA-AES128-GCM-SHA256",
        tls_handshake_latency=None,
        leaf_client_cert_subject="CN=Cli Expired",
        not_before=None,
        not_after=None,
        leaf_client_cert_serial_number=serial,
        tls_verify_status=status,
        conn_trace_id="TID_0123",
        tls_keyexchange=None,
        elb=None,
        ip_address=None,
    ).to_line()


def test_check_against_a_log_line(files: dict[str, Path]) -> None:
    args = ["cert", "check", str(files["expired"]), "--trust-store", str(files["bundle"])]
    line = _log_line("Failed:ClientCertExpired", "FEF2")
    code, out, _ = run(*args, "--log-line", line, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["log_line"]["matches"] is True
    code, out, _ = run(*args, "--log-line", _log_line("Failed:ClientCertUntrusted", "FEF2"))
    assert code == 1 and "does NOT match" in out
    code, _, err = run(*args, "--log-line", "not a log line")
    assert code == 3 and "log-line" in err


def test_check_unreadable_inputs(files: dict[str, Path]) -> None:
    code, _, err = run("cert", "check", str(files["chain"]), "--trust-store", str(files["garbage"]))
    assert code == 3 and "garbage.pem" in err and "Traceback" not in err
    code, _, err = run(
        "cert", "check", str(files["garbage"]), "--trust-store", str(files["bundle"])
    )
    assert code == 3


def test_trust_store_check_and_fix(
    files: dict[str, Path], pki: StandardPki, tmp_path: Path
) -> None:
    code, out, _ = run("trust-store", "check", str(files["bundle"]), "--at", AT, "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    messy = write(tmp_path / "messy.pem", b"# a-b\n\n" + pki.root.pem + pki.leaf.pem)
    out_path = tmp_path / "clean.pem"
    code, out, _ = run(
        "trust-store", "check", str(messy), "--at", AT, "--fix", str(out_path), "--format", "json"
    )
    data = json.loads(out)
    assert code == 1
    assert {f["code"] for f in data["findings"]} == {
        "BundleCommentHasDash",
        "BundleBlankLine",
        "BundleNotCa",
    }
    assert data["fix"]["kept"] == 1 and out_path.read_bytes() == pki.root.pem
    code, _, _ = run("trust-store", "check", str(out_path), "--at", AT)
    assert code == 0


def test_help_has_examples() -> None:
    for args in (["cert", "inspect"], ["cert", "check"], ["trust-store", "check"]):
        code, out, _ = run(*args, "--help")
        assert code == 0 and "Example:" in out
