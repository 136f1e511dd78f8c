"""The support bundle: contents, manifest, redaction, atomic 0600 write, and no key ever."""

from __future__ import annotations

import gzip
import hashlib
import json
import stat
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mtls_doctor.bundle import BundleSpec, build_support_bundle
from mtls_doctor.errors import CertificateLoadError, InputError
from mtls_doctor.knowledge.fields import LogEntry
from mtls_doctor.logs.query import Filters, parse_client
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.probe import ProbeOptions
from mtls_doctor.sandbox.server import Sandbox
from tests.probe.conftest import NOW, pki, sandbox  # noqa: F401  (fixtures)
from tests.probe.servers import combined_file, free_port

CLIENT = "203.0.113.9"
OTHER = "198.51.100.7"
LOG_NAME = (
    "conn_log_123456789012_elasticloadbalancing_us-east-1_app.lb.0123456789abcdef_"
    "20261127T0000Z_10.0.0.1_abcd1234.log.gz"
)


def _entry(ip: str, status: str, minutes: int) -> LogEntry:
    return LogEntry(
        timestamp=NOW - timedelta(minutes=minutes),
        client_ip=ip,
        client_port=40000 + minutes,
        listener_port=443,
        tls_protocol="TLSv1.3",
        tls_cipher="TLS_AES_128_GCM_SHA256",
        tls_handshake_latency=0.01 if status == "Success" else None,
        leaf_client_cert_subject="CN=expired.client.test,O=mtls-doctor-sandbox",
        not_before=NOW - timedelta(days=31),
        not_after=NOW - timedelta(days=1),
        leaf_client_cert_serial_number="0A1B",
        tls_verify_status=status,
        conn_trace_id=f"TID_{minutes:032x}",
        tls_keyexchange="x25519",
        elb="app/lb/0123456789abcdef",
        ip_address="10.0.0.1",
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = [_entry(CLIENT, "Failed:ClientCertExpired", m).to_line() for m in (5, 6, 7)]
    lines += [_entry(OTHER, "Success", 8).to_line()]
    with gzip.open(folder / LOG_NAME, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return folder


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _spec(pki: ScenarioSet, tmp_path: Path, logs: Path, **extra: object) -> BundleSpec:  # noqa: F811
    s = pki.scenario("expired")
    chain = combined_file(tmp_path, pki.path(s.chain or ""), pki.path(s.key or ""))
    values: dict[str, object] = {
        "out": tmp_path / "case.zip",
        "now": NOW,
        "command_line": ("mtls-doctor", "support-bundle", "--client-ip", CLIENT),
        "cert": chain,
        "log_inputs": (str(logs),),
        "filters": Filters(client=parse_client(CLIENT)),
        "trust_store": pki.path(pki.trust_store),
    }
    values.update(extra)
    return BundleSpec(**values)  # type: ignore[arg-type]


def test_contents_and_manifest(
    pki: ScenarioSet,  # noqa: F811
    sandbox: Callable[..., Sandbox],  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    url = sandbox().url
    s = pki.scenario("expired")
    spec = _spec(pki, tmp_path, logs)
    probe = ProbeOptions(url, cert=spec.cert)
    result = build_support_bundle(_spec(pki, tmp_path, logs, probe=probe))
    members = _members(result.out)
    assert set(members) == {
        "README.txt", "manifest.json", "probe.txt", "probe.json", "client-chain.pem",
        "client-chain.txt", "cert-check.txt", "cert-check.json", "trust-store-check.txt",
        "trust-store-check.json", "connection-logs.jsonl", "diagnosis.md", "diagnosis.json",
    }  # fmt: skip
    manifest = json.loads(members["manifest.json"])
    assert manifest["schema_version"] == 1 and manifest["versions"]["mtls-doctor"]
    assert manifest["command_line"][-1] == CLIENT and manifest["omitted"] == []
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(members) - {"manifest.json"}
    for name, item in listed.items():
        assert item["sha256"] == hashlib.sha256(members[name]).hexdigest()
        assert item["size"] == len(members[name])
    rows = [json.loads(line) for line in members["connection-logs.jsonl"].splitlines()]
    assert len(rows) == 3 and {r["client_ip"] for r in rows} == {CLIENT}  # the slice only
    assert json.loads(members["diagnosis.json"])["summary"]["failed"] == 3
    assert "ClientCertExpired" in members["diagnosis.md"].decode()
    assert json.loads(members["probe.json"])["conclusion"]["side"] == "client"
    assert json.loads(members["cert-check.json"])["verdict"] == "ClientCertExpired"
    assert json.loads(members["trust-store-check.json"])["ok"] is True
    assert members["client-chain.pem"] == pki.path(s.chain or "").read_bytes()
    assert any("stripped" in w for w in result.warnings)
    assert stat.S_IMODE(result.out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_embedded_key_never_reaches_the_zip(
    pki: ScenarioSet,  # noqa: F811
    sandbox: Callable[..., Sandbox],  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    url = sandbox().url
    spec = _spec(pki, tmp_path, logs)
    result = build_support_bundle(
        _spec(pki, tmp_path, logs, probe=ProbeOptions(url, cert=spec.cert))
    )
    key_path = pki.path(pki.scenario("expired").key or "")
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    pem_body = b"".join(key_path.read_bytes().splitlines()[1:-1])
    secrets = [
        pem_body,
        pem_body[:48],
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        key.private_numbers().private_value.to_bytes(32, "big"),  # type: ignore[union-attr]
    ]
    raw = result.out.read_bytes()
    blobs = [raw, *_members(result.out).values()]
    for blob in blobs:
        assert b"PRIVATE KEY" not in blob
        for secret in secrets:
            assert secret not in blob
    # Near miss: the test would see the key if it were there.
    assert pem_body[:48] in spec.cert.read_bytes()  # type: ignore[union-attr]


def test_a_file_that_is_only_a_key_is_refused(
    pki: ScenarioSet,  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    key_only = pki.path(pki.scenario("expired").key or "")
    with pytest.raises(CertificateLoadError, match="private key and no certificate"):
        build_support_bundle(_spec(pki, tmp_path, logs, cert=key_only))
    assert not (tmp_path / "case.zip").exists()


def test_redact_ips_uses_stable_pseudonyms_everywhere(
    pki: ScenarioSet,  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    result = build_support_bundle(_spec(pki, tmp_path, logs, redact_ips=True, redact_key=b"k"))
    members = _members(result.out)
    for name, data in members.items():
        assert CLIENT.encode() not in data, name
    rows = [json.loads(line) for line in members["connection-logs.jsonl"].splitlines()]
    pseudonyms = {r["client_ip"] for r in rows}
    assert len(pseudonyms) == 1 and next(iter(pseudonyms)).startswith("client-")
    assert next(iter(pseudonyms)).encode() in members["diagnosis.md"]
    assert result.redacted_ips == 1
    # Near miss: without the flag the address is there.
    plain = build_support_bundle(_spec(pki, tmp_path, logs, out=tmp_path / "plain.zip"))
    assert CLIENT.encode() in _members(plain.out)["connection-logs.jsonl"]


def test_unreachable_probe_is_recorded_and_the_rest_written(
    pki: ScenarioSet,  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    probe = ProbeOptions(f"https://127.0.0.1:{free_port()}/", timeout=2.0)
    result = build_support_bundle(_spec(pki, tmp_path, logs, probe=probe))
    members = _members(result.out)
    assert b"connection refused" in members["probe.txt"] and "probe.json" not in members
    assert result.probe_outcome == "unreachable" and "connection-logs.jsonl" in members


def test_sections_left_out_are_named_and_the_old_archive_replaced(
    pki: ScenarioSet,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "case.zip"
    out.write_bytes(b"old")
    result = build_support_bundle(BundleSpec(out=out, now=NOW))
    sections = {s for s, _ in result.omitted}
    assert sections == {
        "probe",
        "client certificate",
        "trust-store check",
        "connection logs and diagnosis",
    }
    assert set(_members(out)) == {"README.txt", "manifest.json"}
    with pytest.raises(InputError, match="stdin"):
        build_support_bundle(BundleSpec(out=out, now=NOW, log_inputs=("-",)))


def test_rows_left_out_still_have_their_addresses_redacted(
    pki: ScenarioSet,  # noqa: F811
    tmp_path: Path,
    logs: Path,
) -> None:
    # One row kept (the oldest: OTHER's); CLIENT is named only by the diagnosis, whose
    # prepared tables also give the slice's size for the warning.
    spec = _spec(pki, tmp_path, logs, filters=Filters(), max_log_rows=1, redact_ips=True,
                 redact_key=b"k")  # fmt: skip
    result = build_support_bundle(spec)
    members = _members(result.out)
    for name, data in members.items():
        assert CLIENT.encode() not in data and OTHER.encode() not in data, name
    assert result.redacted_ips == 2
    assert "connection logs: kept the first 1 of 4 rows" in result.warnings
    (row,) = [json.loads(line) for line in members["connection-logs.jsonl"].splitlines()]
    assert (
        row["client_ip"].startswith("client-")
        and row["client_ip"].encode() not in (members["diagnosis.md"])
    )
