"""probe() against the sandbox and small local peers on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from mtls_doctor.errors import ExitCode, InputError, NetworkError
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.probe import KeyPasswordRequired, ProbeOptions, key_needs_password, probe
from mtls_doctor.report.probe_text import render_text
from mtls_doctor.sandbox.server import Sandbox
from tests.probe.conftest import NOW
from tests.probe.servers import closing_server, combined_file, free_port, strict_server

ROOT_DN = "CN=mtls-doctor root CA,O=mtls-doctor-sandbox"


def options(pki: ScenarioSet, url: str, scenario: str, **extra: object) -> ProbeOptions:
    s = pki.scenario(scenario)
    assert s.chain and s.key
    return ProbeOptions(url, cert=pki.path(s.chain), key=pki.path(s.key), **extra)  # type: ignore[arg-type]


def test_good_client_succeeds_with_everything_recorded(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox]
) -> None:
    url = sandbox().url
    ca = pki.path(pki.root_ca)
    result = probe(
        options(pki, url, "success-intermediate", ca=ca, servername="localhost"), now=NOW
    )
    assert result.conclusion.outcome == "ok" and result.conclusion.side == "none"
    assert result.tls_version == "TLSv1.3" and result.cipher
    assert result.server_chain[0].subject == "CN=localhost,O=mtls-doctor-sandbox"
    assert result.server_verification.ok is True
    assert result.client_cert_requested and result.advertised_ca_names == ()
    assert result.client_check is not None and result.client_check.issuer_advertised is None
    assert [c.subject.split(",")[0] for c in result.sent_chain] == [
        "CN=success-intermediate.client.test",
        "CN=mtls-doctor intermediate CA",
    ]
    assert result.http is not None and result.http.status == 200
    headers = dict(result.http.mtls_headers)
    assert headers["X-Amzn-Mtls-Clientcert-Subject"].startswith("CN=success-intermediate")
    t = result.timings
    assert all(v is not None and v >= 0 for v in (t.tcp_connect_ms, t.tls_handshake_ms))
    assert t.first_byte_ms is not None and t.total_ms is not None
    assert result.ending.kind == "complete"
    assert result.to_dict()["schema_version"] == 1


def test_expired_client_is_rejected_on_the_client_side(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox]
) -> None:
    url = sandbox().url
    result = probe(options(pki, url, "expired"), now=NOW)
    assert result.http is None
    assert result.conclusion.outcome == "rejected" and result.conclusion.side == "client"
    assert result.client_check is not None
    assert result.client_check.verdict == "ClientCertExpired"
    assert result.client_check.basis == "none"
    assert result.ending.kind in ("close_notify", "reset", "eof")


def test_advertised_names_are_reported_and_matched(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox]
) -> None:
    url = sandbox(advertise_ca_names=True).url
    good = probe(options(pki, url, "success-root"), now=NOW)
    assert good.advertised_ca_names == (ROOT_DN,)
    assert good.client_check is not None and good.client_check.issuer_advertised is True
    assert good.client_check.basis == "advertised_names" and good.conclusion.ok
    # Near miss: a client of another CA is not among the advertised names.
    bad = probe(options(pki, url, "untrusted"), now=NOW)
    assert bad.client_check is not None and bad.client_check.issuer_advertised is False
    assert bad.client_check.verdict == "ClientCertUntrusted"
    assert bad.conclusion.side == "client" and not bad.conclusion.ok


def test_untrusted_without_names_needs_a_trust_store_to_assign_blame(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox]
) -> None:
    url = sandbox().url
    unknown = probe(options(pki, url, "untrusted"), now=NOW)
    assert unknown.conclusion.outcome == "rejected" and unknown.conclusion.side == "unknown"
    store = pki.path(pki.trust_store)
    known = probe(options(pki, url, "untrusted", trust_store=store), now=NOW)
    assert known.client_check is not None and known.client_check.basis == "trust_store"
    assert known.client_check.verdict == "ClientCertUntrusted"
    assert known.conclusion.side == "client"


def test_server_side_when_a_passing_chain_is_rejected(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    # The listener trusts only the intermediate; we check against the root bundle.
    url = sandbox(trust_store=pki.path(pki.intermediate_ca)).url
    store = pki.path(pki.trust_store)
    result = probe(options(pki, url, "success-root", trust_store=store), now=NOW)
    assert result.client_check is not None and result.client_check.ok
    assert result.conclusion.outcome == "rejected" and result.conclusion.side == "server"


@pytest.mark.parametrize(
    ("tls_max", "scenario", "alert"),
    [
        (SSL.TLS1_2_VERSION, "expired", "certificate_expired"),
        (None, "untrusted", "unknown_ca"),  # TLS 1.3: the alert follows our Finished
    ],
)
def test_alert_names_from_a_server_that_rejects_in_the_handshake(
    pki: ScenarioSet, tls_max: int | None, scenario: str, alert: str
) -> None:
    with strict_server(pki, tls_max) as port:
        result = probe(options(pki, f"https://127.0.0.1:{port}/", scenario), now=NOW)
        good = probe(options(pki, f"https://127.0.0.1:{port}/", "success-root"), now=NOW)
    assert result.ending.kind == "alert" and result.ending.alert == alert
    assert result.ending.alert_from == "server" and result.client_cert_requested
    assert not result.conclusion.ok
    assert good.conclusion.ok and good.ending.alert is None  # near miss


def test_server_that_closes_early(pki: ScenarioSet) -> None:
    with closing_server() as port:
        result = probe(options(pki, f"https://127.0.0.1:{port}/", "success-root"), now=NOW)
    assert result.ending.phase == "tls_handshake" and result.ending.kind in ("eof", "reset")
    assert not result.client_cert_requested and result.tls_version is None
    assert result.conclusion.outcome == "failed" and result.conclusion.side == "server"


def test_nothing_listening_is_a_network_error(pki: ScenarioSet) -> None:
    port = free_port()
    with pytest.raises(NetworkError) as caught:
        probe(options(pki, f"https://127.0.0.1:{port}/", "success-root", timeout=2.0), now=NOW)
    assert f"127.0.0.1:{port}" in caught.value.message and "refused" in caught.value.message
    assert caught.value.exit_code == ExitCode.ENVIRONMENT and caught.value.hint


def test_server_verification_failures_stop_before_the_request(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox]
) -> None:
    url = sandbox().url
    wrong_ca = probe(options(pki, url, "success-root", ca=pki.path(pki.intermediate_ca)), now=NOW)
    assert wrong_ca.conclusion.outcome == "server_untrusted" and wrong_ca.http is None
    assert wrong_ca.server_verification.ok is False and wrong_ca.conclusion.side == "server"
    ca = pki.path(pki.root_ca)
    wrong_name = probe(options(pki, url, "success-root", ca=ca, servername="other.test"), now=NOW)
    assert any("hostname mismatch" in e for e in wrong_name.server_verification.errors)
    right = probe(options(pki, url, "success-root", ca=ca, servername="localhost"), now=NOW)
    assert right.server_verification.ok and right.conclusion.ok  # near miss
    assert not right.warnings
    assert any(
        "NOT verified" in w for w in probe(options(pki, url, "success-root"), now=NOW).warnings
    )


def _encrypted_key(pki: ScenarioSet, tmp_path: Path, password: bytes) -> Path:
    key = serialization.load_pem_private_key(
        pki.path(pki.scenario("success-root").key or "").read_bytes(), None
    )
    path = tmp_path / "enc.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return path


def test_encrypted_key_needs_its_passphrase(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    url = sandbox().url
    key = _encrypted_key(pki, tmp_path, b"s3cret")
    chain = pki.path(pki.scenario("success-root").chain or "")
    assert key_needs_password(key) and not key_needs_password(
        pki.path(pki.scenario("success-root").key or "")
    )
    with pytest.raises(KeyPasswordRequired):
        probe(ProbeOptions(url, cert=chain, key=key), now=NOW)
    with pytest.raises(InputError, match="wrong passphrase"):
        probe(ProbeOptions(url, cert=chain, key=key, key_password=b"nope"), now=NOW)
    result = probe(ProbeOptions(url, cert=chain, key=key, key_password=b"s3cret"), now=NOW)
    assert result.conclusion.ok
    assert "s3cret" not in json.dumps(result.to_dict()) and "s3cret" not in render_text(result)


def test_key_in_the_chain_file_is_used_and_never_output(
    pki: ScenarioSet, sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    url = sandbox().url
    s = pki.scenario("success-root")
    combined = combined_file(tmp_path, pki.path(s.chain or ""), pki.path(s.key or ""))
    result = probe(ProbeOptions(url, cert=combined), now=NOW)
    assert result.conclusion.ok
    body = b"".join(pki.path(s.key or "").read_bytes().splitlines()[1:-1]).decode()
    outputs = json.dumps(result.to_dict()) + render_text(result) + repr(result)
    assert body[:40] not in outputs and "PRIVATE KEY" not in outputs


def test_key_that_does_not_match_the_leaf_is_refused(pki: ScenarioSet, tmp_path: Path) -> None:
    s, other = pki.scenario("success-root"), pki.scenario("expired")
    opts = ProbeOptions(
        "https://127.0.0.1:1/", cert=pki.path(s.chain or ""), key=pki.path(other.key or "")
    )
    with pytest.raises(InputError, match="does not belong"):
        probe(opts, now=NOW)


def test_silent_server_times_out_in_the_handshake(pki: ScenarioSet) -> None:
    with socket.socket() as listener:  # the kernel completes TCP; nobody ever speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        result = probe(options(pki, url, "success-root", timeout=0.3), now=NOW)
    assert result.ending.kind == "timeout" and result.ending.phase == "tls_handshake"
    assert result.conclusion.side == "server" and not result.conclusion.ok
