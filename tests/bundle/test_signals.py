"""A signal while the support bundle is being written leaves no temporary file (#19 item 5)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

WRITER = """
import sys, time, types
from datetime import UTC, datetime
from pathlib import Path
from mtls_doctor.bundle.archive import write_zip_atomic

def slow_members():
    for i in range(300):
        if i == 1:
            print("writing", flush=True)
        time.sleep(0.05)
        yield f"member-{i}.txt", b"x" * 1000

write_zip_atomic(Path(sys.argv[1]), slow_members(), types.SimpleNamespace(now=datetime.now(UTC)))
print("done", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_write_leaves_no_tmp_file(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "bundle.zip"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
        assert len(list(tmp_path.glob(".bundle.zip.*.tmp"))) == 1  # caught in the act
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert list(tmp_path.iterdir()) == []
