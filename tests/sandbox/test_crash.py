"""kill -9 of the sandbox loses at most the last second of log lines (issue #19 item 6)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from mtls_doctor.logs.faults import inflate_partial
from mtls_doctor.pki.scenarios import ScenarioSet
from mtls_doctor.sandbox.logwriter import FLUSH_SECONDS, ConnLogWriter, LogNaming
from tests.sandbox.clients import log_lines, python_client
from tests.sandbox.test_units import _entry

NAMING = LogNaming("123456789012", "us-east-1", "lb", "0123456789abcdef", "127.0.0.1")


def gzip_members(data: bytes) -> int:
    count = 0
    while data:
        inflater = zlib.decompressobj(wbits=31)
        inflater.decompress(data)
        if not inflater.eof:
            break  # a truncated last member
        count, data = count + 1, inflater.unused_data
    return count


def start_sandbox(pki: ScenarioSet, log_dir: Path) -> tuple[subprocess.Popen[str], int]:
    command = [
        sys.executable, "-m", "mtls_doctor", "sandbox", "--listen", "127.0.0.1:0",
        "--log-dir", str(log_dir), "--trust-store", str(pki.path(pki.trust_store)),
        "--server-cert", str(pki.path(pki.server_cert)),
        "--server-key", str(pki.path(pki.server_key)),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip() if proc.stdout else ""
    return proc, int(url.rsplit(":", 1)[1].strip("/"))


def test_sigkill_loses_at_most_the_last_second(scenario_pki: ScenarioSet, tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    proc, port = start_sandbox(scenario_pki, log_dir)
    ports: list[int] = []
    try:
        for _batch in range(2):  # two batches a second apart: two gzip members at least
            for i in range(6):
                scenario = scenario_pki.scenario("success-root" if i % 2 else "expired")
                outcome = python_client(port, scenario_pki, scenario)
                assert outcome.local_port
                ports.append(outcome.local_port)
            time.sleep(FLUSH_SECONDS * 2 + 0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    assert log_lines(log_dir) == []  # nothing delivered: the interval had not ended
    (partial,) = (log_dir / ".partial").glob("*.gz.partial")
    data = partial.read_bytes()
    assert gzip_members(data) >= 2
    text, fault = inflate_partial(partial)
    assert fault is None
    logged = {int(line.split(" ")[2]) for line in text.decode().splitlines()}
    assert set(ports) <= logged

    # The next sandbox in that folder delivers what the dead one left, under an ALB name.
    writer = ConnLogWriter(log_dir, NAMING, 300, lambda: datetime.now(UTC))
    writer.start(datetime.now(UTC))
    writer.close(datetime.now(UTC))
    assert len(writer.recovered) == 1 and not list((log_dir / ".partial").glob("*"))
    assert {int(line.split(" ")[2]) for line in log_lines(log_dir)} == logged


def test_a_live_writers_file_is_not_taken(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    first = ConnLogWriter(tmp_path, NAMING, 300, lambda: datetime.now(UTC))
    first.start(now)
    first.write(_entry(now), now)
    first.flush()  # now in .partial, which `first` holds
    second = ConnLogWriter(tmp_path, NAMING, 300, lambda: datetime.now(UTC))
    second.start(now)
    assert second.recovered == [] and len(list((tmp_path / ".partial").glob("*"))) == 1
    second.close(now)
    assert first.close(now) is not None and first.files[0].exists()
