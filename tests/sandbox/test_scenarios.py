"""Every scenario of the manifest through three real clients, checked in the sandbox's logs."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.cli import cli
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.pki.verdict import TrustStore, check_chain
from tests.sandbox.clients import CLIENTS, log_lines
from tests.sandbox.conftest import StartSandbox

# Verbatim from spec §1.7 (the parsing recommendation, tested there against AWS's examples).
ALB_CONN_RE = re.compile(
    r"^(?P<time>\S+) (?P<client_ip>\S+) (?P<client_port>\S+) (?P<listener_port>\S+) "
    r"(?P<tls_protocol>\S+) (?P<tls_cipher>\S+) (?P<tls_handshake_latency>\S+) "
    r'"(?P<leaf_client_cert_subject>[^"]*)" (?P<leaf_client_cert_validity>\S+) '
    r"(?P<leaf_client_cert_serial_number>\S+) (?P<tls_verify_status>\S+) (?P<conn_trace_id>\S+)"
    r"(?: (?P<tls_keyexchange>\S+))?(?: (?P<elb>\S+))?(?: (?P<ip_address>\S+))?"
    r"(?P<extra>(?: \S+)*) ?$"
)
FILE_RE = re.compile(
    r"conn_log[._](\d{12})_elasticloadbalancing_([a-z0-9-]+)_app\.(.+)_(\d{8}T\d{4}Z)_"
    r"([0-9.:a-f]+)_([A-Za-z0-9]+)\.log\.gz$"
)


def _ders(pki: ScenarioSet, relative: str | None) -> list[bytes]:
    if relative is None:
        return []
    certs = x509.load_pem_x509_certificates(pki.path(relative).read_bytes())
    return [c.public_bytes(Encoding.DER) for c in certs]


def _status(code: str) -> str:
    return code if code == "Success" else f"Failed:{code}"


def test_manifest_statuses_are_the_engines_verdicts(scenario_pki: ScenarioSet) -> None:
    store = TrustStore.from_files(
        scenario_pki.path(scenario_pki.trust_store),
        [scenario_pki.path(c) for c in scenario_pki.crls],
    )
    at = datetime.now(UTC)
    for scenario in scenario_pki.scenarios:
        verdict = check_chain(_ders(scenario_pki, scenario.chain), store, at=at)
        assert _status(verdict.verdict) == scenario.expected_tls_verify_status, scenario.name


def test_near_miss_success_fails_without_its_root(scenario_pki: ScenarioSet) -> None:
    # The same good chain against a bundle that lacks its root: untrusted.
    other = scenario_pki.path("ca/intermediate-ca.pem")
    store = TrustStore.from_files(other, [])
    chain = _ders(scenario_pki, scenario_pki.scenario("success-root").chain)
    assert check_chain(chain, store, at=datetime.now(UTC)).verdict == "ClientCertUntrusted"


def test_manifest_files_and_key_modes(scenario_pki: ScenarioSet) -> None:
    manifest = json.loads(scenario_pki.path("manifest.json").read_text())
    assert manifest["schema_version"] == 1
    names = [s["name"] for s in manifest["scenarios"]]
    assert len(names) == len(set(names)) == 11
    for entry in manifest["scenarios"]:
        for relative in filter(None, entry["files"].values()):
            assert scenario_pki.path(relative).is_file(), relative
        assert entry["expected_tls_verify_status"].startswith(("Success", "Failed:"))
    keys = list(scenario_pki.out_dir.rglob("*.key")) + list(scenario_pki.out_dir.rglob("key.pem"))
    assert len(keys) >= 13
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    deep = scenario_pki.scenario("chain-too-deep")
    assert len(_ders(scenario_pki, deep.chain)) == 5  # leaf + 4 intermediates
    assert len(_ders(scenario_pki, scenario_pki.scenario("oversized").cert)[0]) > 16 * 1024


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_scenario_through_a_real_client(
    client: str, scenario_pki: ScenarioSet, start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    sandbox = start_sandbox(log_dir=log_dir)
    outcomes = {
        s.name: CLIENTS[client](sandbox.port, scenario_pki, s) for s in scenario_pki.scenarios
    }
    sandbox.stop()

    for scenario in scenario_pki.scenarios:
        outcome = outcomes[scenario.name]
        if scenario.expected_tls_verify_status == "Success":
            assert outcome.status == 200, scenario.name
            headers = json.loads(outcome.body)["headers"]
            assert headers["X-Amzn-Mtls-Clientcert-Serial-Number"] == scenario.serial_number
            assert headers["X-Amzn-Mtls-Clientcert-Subject"] == scenario.subject  # not forged
        else:
            assert outcome.status is None, f"{scenario.name} got an HTTP response"

    lines = log_lines(log_dir)
    assert len(lines) == len(scenario_pki.scenarios)
    by_serial = {
        m["leaf_client_cert_serial_number"]: m
        for m in map(ALB_CONN_RE.match, lines)
        if m is not None
    }
    assert len(by_serial) == len(lines)
    for scenario in scenario_pki.scenarios:
        match = by_serial[scenario.serial_number or "-"]
        assert match["tls_verify_status"] == scenario.expected_tls_verify_status, scenario.name
        assert match["leaf_client_cert_subject"] == (scenario.subject or "-")
        assert re.fullmatch(r"TID_[0-9a-f]{32}", match["conn_trace_id"])
        assert match["elb"] == sandbox.config.elb and not match["extra"]
        latency = match["tls_handshake_latency"]
        ok = scenario.expected_tls_verify_status == "Success"
        assert (latency != "-") == ok and (not ok or re.fullmatch(r"\d+\.\d{3}", latency))
        assert match["tls_protocol"].startswith("TLSv1.") and match["tls_keyexchange"] != "-"
    _check_readers(log_dir, scenario_pki)


def _check_readers(log_dir: Path, pki: ScenarioSet) -> None:
    """Our parser (via diagnose) and the AWS runbook's awk recipe count what was sent."""
    expected = Counter(s.expected_tls_verify_status for s in pki.scenarios)
    files = list(log_dir.rglob("*.log.gz"))
    assert files and all(FILE_RE.search(f.name) for f in files)
    assert all("AWSLogs/123456789012/elasticloadbalancing/us-east-1/" in str(f) for f in files)
    result = CliRunner().invoke(cli, ["diagnose", str(log_dir), "--format", "json"])
    assert result.exit_code == 1, result.stderr  # failures found
    report = json.loads(result.stdout)
    assert report["by_status"] == dict(expected)
    assert report["summary"]["connections"] == len(pki.scenarios)
    awk = subprocess.run(
        f"zcat {' '.join(map(str, files))} | awk '$11 ~ \"Failed\"' | wc -l",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(awk.stdout) == sum(n for s, n in expected.items() if s != "Success")


def test_headers_encode_the_leaf(scenario_pki: ScenarioSet, start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox()
    scenario = scenario_pki.scenario("success-intermediate")
    outcome = CLIENTS["python"](sandbox.port, scenario_pki, scenario)
    headers = outcome.json()["headers"]
    assert isinstance(headers, dict)
    leaf_pem = unquote(headers["X-Amzn-Mtls-Clientcert-Leaf"]).encode()
    assert leaf_pem == scenario_pki.path(scenario.cert or "").read_bytes()
    assert (
        headers["X-Amzn-Mtls-Clientcert-Issuer"]
        == "CN=mtls-doctor intermediate CA,O=mtls-doctor-sandbox"
    )
    assert re.fullmatch(r"NotBefore=\S+Z;NotAfter=\S+Z", headers["X-Amzn-Mtls-Clientcert-Validity"])
    assert "X-Amzn-Mtls-Clientcert" not in headers  # passthrough header: verify mode has none


def test_ignore_expiry_accepts_expired_but_not_untrusted(
    scenario_pki: ScenarioSet, start_sandbox: StartSandbox
) -> None:
    sandbox = start_sandbox(ignore_expiry=True)
    assert (
        CLIENTS["python"](sandbox.port, scenario_pki, scenario_pki.scenario("expired")).status
        == 200
    )
    near_miss = CLIENTS["python"](sandbox.port, scenario_pki, scenario_pki.scenario("untrusted"))
    assert near_miss.status is None


def test_clock_is_injectable(scenario_pki: ScenarioSet, start_sandbox: StartSandbox) -> None:
    # Two years on, the good certificate has expired in the sandbox's eyes.
    later = datetime.now(UTC) + timedelta(days=730)
    sandbox = start_sandbox(clock=lambda: later, crls=())  # the CRL would be stale too
    outcome = CLIENTS["python"](sandbox.port, scenario_pki, scenario_pki.scenario("success-root"))
    assert outcome.status is None
    assert sandbox.statuses() == {"Failed:ClientCertExpired": 1}
