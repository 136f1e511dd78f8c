"""``mtls-doctor probe`` and ``support-bundle`` through click, against the sandbox on 127.0.0.1."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from mtls_doctor.cli import cli
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.sandbox.server import Sandbox
from tests.probe.conftest import pki, sandbox  # noqa: F401  (fixtures)
from tests.probe.servers import combined_file, free_port


def _identity(pki: ScenarioSet, name: str) -> list[str]:  # noqa: F811
    s = pki.scenario(name)
    return ["--cert", str(pki.path(s.chain or "")), "--key", str(pki.path(s.key or ""))]


def test_probe_json_success_then_rejected(
    pki: ScenarioSet,  # noqa: F811
    sandbox: Callable[..., Sandbox],  # noqa: F811
) -> None:
    url = sandbox(advertise_ca_names=True).url
    ca = ["--ca", str(pki.path(pki.root_ca)), "--servername", "localhost"]
    ok = CliRunner().invoke(
        cli, ["probe", url, *_identity(pki, "success-root"), *ca, "--format", "json"]
    )
    assert ok.exit_code == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["conclusion"]["outcome"] == "ok" and data["http"]["status"] == 200
    assert data["client_certificate"]["advertised_ca_names"] == [
        "CN=mtls-doctor root CA,O=mtls-doctor-sandbox"
    ]
    assert ok.stderr == ""  # server verified: nothing to warn about
    bad = CliRunner().invoke(cli, ["probe", url, *_identity(pki, "expired"), "--request", "GET /x"])
    assert bad.exit_code == 1
    assert "REJECTED [client side]" in bad.stdout and "ClientCertExpired" in bad.stdout
    assert "NOT verified" in bad.stderr and "NOT verified" not in bad.stdout.split("result:")[1]


def test_probe_nothing_listening_exits_4(pki: ScenarioSet) -> None:  # noqa: F811
    port = free_port()
    result = CliRunner().invoke(
        cli, ["probe", f"https://127.0.0.1:{port}", *_identity(pki, "success-root")]
    )
    assert result.exit_code == 4 and result.stdout == ""
    assert f"error: cannot connect to 127.0.0.1:{port}: connection refused" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr


def test_probe_bad_url_and_missing_passphrase(pki: ScenarioSet, tmp_path: Path) -> None:  # noqa: F811
    http = CliRunner().invoke(cli, ["probe", "http://127.0.0.1:1/"])
    assert http.exit_code == 2 and "only https://" in http.stderr
    s = pki.scenario("success-root")
    key = serialization.load_pem_private_key(pki.path(s.key or "").read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    args = ["probe", "https://127.0.0.1:1/", "--cert", str(pki.path(s.chain or ""))]
    no_tty = CliRunner().invoke(cli, [*args, "--key", str(encrypted)])
    assert no_tty.exit_code == 3 and "--key-password-env" in no_tty.stderr
    unset = CliRunner().invoke(
        cli, [*args, "--key", str(encrypted), "--key-password-env", "MTLS_TEST_UNSET_VAR"]
    )
    assert unset.exit_code == 2 and "not set" in unset.stderr


def test_probe_with_passphrase_from_env(
    pki: ScenarioSet,  # noqa: F811
    sandbox: Callable[..., Sandbox],  # noqa: F811
    tmp_path: Path,
) -> None:
    url = sandbox().url
    s = pki.scenario("success-root")
    key = serialization.load_pem_private_key(pki.path(s.key or "").read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw-123"),
        )
    )
    result = CliRunner().invoke(
        cli,
        [
            *("probe", url, "--cert", str(pki.path(s.chain or "")), "--key", str(encrypted)),
            *("--key-password-env", "PROBE_PW", "--format", "json"),
        ],
        env={"PROBE_PW": "pw-123"},
    )
    assert result.exit_code == 0, result.stderr
    assert "pw-123" not in result.stdout + result.stderr


def test_support_bundle_cli(
    pki: ScenarioSet,  # noqa: F811
    sandbox: Callable[..., Sandbox],  # noqa: F811
    tmp_path: Path,
) -> None:
    url = sandbox().url
    s = pki.scenario("success-root")
    chain = combined_file(tmp_path, pki.path(s.chain or ""), pki.path(s.key or ""))
    out = tmp_path / "case.zip"
    result = CliRunner().invoke(
        cli,
        [
            *("support-bundle", "--out", str(out), "--url", url, "--cert", str(chain)),
            *("--trust-store", str(pki.path(pki.trust_store)), "--format", "json"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["probe_outcome"] == "ok" and data["schema_version"] == 1
    assert "stripped" in result.stderr
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["command_line"][:3] == ["mtls-doctor", "support-bundle", "--out"]
    assert {"section": "connection logs and diagnosis", "reason": "no PATHS or --db given"} in (
        manifest["omitted"]
    )
    key_only = CliRunner().invoke(
        cli,
        ["support-bundle", "--out", str(tmp_path / "k.zip"), "--cert", str(pki.path(s.key or ""))],
    )
    assert key_only.exit_code == 3 and "refusing" in key_only.stderr
    assert not (tmp_path / "k.zip").exists()
