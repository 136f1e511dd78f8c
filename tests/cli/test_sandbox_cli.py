"""``pki scenarios``, ``pki issue`` and ``sandbox`` through click."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from mtls_doctor.cli import cli


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_pki_scenarios_json(tmp_path: Path) -> None:
    code, out, err = _run("pki", "scenarios", str(tmp_path / "pki"), "--format", "json")
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["schema_version"] == 1
    assert json.loads((tmp_path / "pki" / "manifest.json").read_text()) == manifest
    statuses = {s["name"]: s["expected_tls_verify_status"] for s in manifest["scenarios"]}
    assert statuses["success-root"] == "Success"
    assert statuses["revoked"] == "Failed:ClientCertCrlHit"


def test_pki_scenarios_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = _run("pki", "scenarios", str(tmp_path / "p"), "--at", "yesterday")
    assert code == 2 and out == "" and "ISO 8601" in err


def test_pki_issue_under_an_intermediate(tmp_path: Path) -> None:
    assert _run("pki", "scenarios", str(tmp_path / "pki"))[0] == 0
    ca = tmp_path / "pki" / "ca" / "intermediate-ca.pem"
    code, out, err = _run(
        "pki",
        "issue",
        "--ca",
        str(ca),
        "--out",
        str(tmp_path / "c"),
        "--days",
        "2",
        "--key",
        "rsa2048",
        "--eku",
        "serverAuth",
        "--format",
        "json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["schema_version"] == 1 and result["eku"] == "serverAuth"
    chain = x509.load_pem_x509_certificates(Path(result["chain"]).read_bytes())
    assert [c.subject.rfc4514_string() for c in chain][1] == (
        "CN=mtls-doctor intermediate CA,O=mtls-doctor-sandbox"
    )
    assert stat.S_IMODE(Path(result["key"]).stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in out + err


def test_pki_issue_from_the_root_sends_no_ca(tmp_path: Path) -> None:
    assert _run("pki", "scenarios", str(tmp_path / "pki"))[0] == 0
    ca = tmp_path / "pki" / "ca" / "root-ca.pem"
    code, out, _ = _run(
        "pki",
        "issue",
        "--ca",
        str(ca),
        "--out",
        str(tmp_path / "c"),
        "--not-before",
        "2030-01-01T00:00:00Z",
        "--format",
        "json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["not_before"] == "2030-01-01T00:00:00Z"
    assert len(x509.load_pem_x509_certificates(Path(result["chain"]).read_bytes())) == 1


def test_pki_issue_with_a_wrong_key_is_bad_input(tmp_path: Path) -> None:
    assert _run("pki", "scenarios", str(tmp_path / "pki"))[0] == 0
    ca = tmp_path / "pki" / "ca" / "root-ca.pem"
    other_key = tmp_path / "pki" / "ca" / "intermediate-ca.key"
    code, out, err = _run(
        "pki", "issue", "--ca", str(ca), "--ca-key", str(other_key), "--out", str(tmp_path / "c")
    )
    assert code == 3 and out == ""
    assert err.startswith("error: ") and "is not the key of" in err and "Traceback" not in err


def test_pki_issue_with_a_missing_ca_is_bad_input(tmp_path: Path) -> None:
    code, _, err = _run(
        "pki", "issue", "--ca", str(tmp_path / "nope.pem"), "--out", str(tmp_path / "c")
    )
    assert code == 3 and "not a PEM certificate" in err


def test_sandbox_verify_mode_needs_a_trust_store(tmp_path: Path) -> None:
    code, out, err = _run("sandbox", "--listen", "127.0.0.1:0", "--log-dir", str(tmp_path))
    assert code == 2 and out == "" and "trust store" in err and "hint:" in err


def test_sandbox_bad_listen_address(tmp_path: Path) -> None:
    code, _, err = _run(
        "sandbox", "--mode", "passthrough", "--listen", "nowhere", "--log-dir", str(tmp_path)
    )
    assert code == 2 and "HOST:PORT" in err


def test_sandbox_help_has_an_example() -> None:
    code, out, _ = _run("sandbox", "--help")
    assert code == 0 and "Example:" in out and "--rotate-seconds" in out
