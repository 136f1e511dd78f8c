"""``sandbox --log-format json``: vended JSON-lines connection logs (issue #17 item 5)."""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.errors import UsageError
from mtls_doctor.knowledge.fields import vended_record
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.sandbox.config import SandboxConfig
from mtls_doctor.sandbox.logwriter import ConnLogWriter, LogNaming
from tests.sandbox.clients import log_lines, python_client
from tests.sandbox.test_units import _entry

T0 = datetime(2022, 2, 15, 23, 37, 12, tzinfo=UTC)
NAME_RE = re.compile(
    r"AWSLogs/123456789012/elasticloadbalancing/us-east-1/\d{4}/\d\d/\d\d/alb_connection_logs_"
    r"123456789012_elasticloadbalancing_us-east-1_app\.lb\.0123456789abcdef_\d{8}T\d{4}Z_"
    r"127\.000\.000\.001_[a-z0-9]{8}\.json\.gz$"
)


def naming(log_format: str) -> LogNaming:
    return LogNaming("123456789012", "us-east-1", "lb", "0123456789abcdef", "127.0.0.1", log_format)


def records(log_dir: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(log_dir.rglob("*.json.gz")):
        out += [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return out


@pytest.mark.parametrize(("values", "typed"), [("typed", True), ("string", False)])
def test_writer_writes_vended_records(tmp_path: Path, values: str, typed: bool) -> None:
    writer = ConnLogWriter(tmp_path, naming("json"), 60, lambda: T0, values)
    writer.start(T0)
    writer.write(_entry(T0), T0)
    writer.write(_entry(T0 + timedelta(seconds=1)), T0)
    (path,) = [writer.close(T0)]
    assert path is not None and NAME_RE.search(path.relative_to(tmp_path).as_posix())
    empty = "null" if typed else "dash"
    assert records(tmp_path) == [
        vended_record(_entry(T0 + timedelta(seconds=s)), typed=typed, empty=empty) for s in (0, 1)
    ]
    assert log_lines(tmp_path) == []  # no legacy file besides


def test_a_dead_json_writers_file_is_delivered_as_json(tmp_path: Path) -> None:
    dead = ConnLogWriter(tmp_path, naming("json"), 60, lambda: T0)
    dead.write(_entry(T0), T0)
    dead.flush()  # on disk as <token>.json.gz.partial, and never closed: as after kill -9
    assert dead._file is not None
    dead._file.close()  # release its lock, as the kernel does when the process dies
    legacy_next = ConnLogWriter(tmp_path, naming("legacy"), 60, lambda: T0)
    legacy_next.start(T0)
    legacy_next.close(T0)
    (recovered,) = legacy_next.recovered
    assert recovered.name.endswith(".json.gz") and records(tmp_path) == [
        vended_record(_entry(T0), typed=True, empty="null")
    ]


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="log format 'parquet' is not one of"):
        SandboxConfig(log_dir=tmp_path, mode="passthrough", log_format="parquet")
    with pytest.raises(UsageError, match="JSON values 'numbers' is not one of"):
        SandboxConfig(log_dir=tmp_path, mode="passthrough", json_values="numbers")
    result = CliRunner().invoke(cli, ["sandbox", "--log-dir", str(tmp_path), "--log-format", "x"])
    assert result.exit_code == 2 and "'legacy', 'json'" in result.stderr


def run_sandbox(pki: ScenarioSet, log_dir: Path, names: list[str]) -> list[int]:
    """Start ``sandbox --log-format json`` as a process, connect once per scenario, stop it by
    its PID with SIGTERM; return the clients' local ports."""
    command = [
        sys.executable, "-m", "mtls_doctor", "sandbox", "--listen", "127.0.0.1:0",
        "--log-dir", str(log_dir), "--trust-store", str(pki.path(pki.trust_store)),
        "--server-cert", str(pki.path(pki.server_cert)),
        "--server-key", str(pki.path(pki.server_key)), "--log-format", "json",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        port = int(url.rsplit(":", 1)[1].strip("/"))
        ports = [python_client(port, pki, pki.scenario(name)).local_port or 0 for name in names]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    return ports


def test_a_passing_and_failing_connection_end_to_end(
    scenario_pki: ScenarioSet, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    names = ["success-root", "expired", "untrusted"]
    ports = run_sandbox(scenario_pki, log_dir, names)
    expected = Counter(scenario_pki.scenario(n).expected_tls_verify_status for n in names)
    assert expected["Success"] == 1 and len(expected) == 3

    got = records(log_dir)
    assert sorted(r["client_port"] for r in got) == sorted(ports)  # numbers: typed values
    assert Counter(r["tls_verify_status"] for r in got) == expected
    success = next(r for r in got if r["tls_verify_status"] == "Success")
    assert success["leaf_client_cert_subject"] == scenario_pki.scenario("success-root").subject
    assert isinstance(success["tls_handshake_latency"], float) and "timestamp" not in success
    assert log_lines(log_dir) == []  # no legacy file

    files = [str(p) for p in sorted(log_dir.rglob("*.json.gz"))]
    query = CliRunner().invoke(
        cli, ["logs", "query", *files, "--count-by", "tls_verify_status", "--format", "json"]
    )
    assert query.exit_code == 0, query.stderr
    assert {r["tls_verify_status"]: r["count"] for r in json.loads(query.stdout)} == expected
    result = CliRunner().invoke(cli, ["diagnose", str(log_dir), "--format", "json"])
    assert result.exit_code == 1, result.stderr  # failures found
    report = json.loads(result.stdout)
    assert report["by_status"] == dict(expected)
    assert report["summary"]["connections"] == 3 and report["summary"]["malformed_lines"] == 0
    codes = {f["code"]: f["top_clients"][0]["client_ip"] for f in report["failures"]}
    assert codes == {s.removeprefix("Failed:"): "127.0.0.1" for s in expected if s != "Success"}
