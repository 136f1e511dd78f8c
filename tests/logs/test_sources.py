"""What reading a plain legacy connection log loads: the vended readers stay unloaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.aws.albdata import lines_for

_VENDED_READERS = ("feed", "jsonl", "text", "lines", "parquet")


def test_a_legacy_file_is_read_without_loading_the_vended_readers(tmp_path: Path) -> None:
    log = tmp_path / "conn_log_a.log"
    log.write_bytes(lines_for("20240502T1005Z", 20, 3))
    code = (
        "import sys; from mtls_doctor.cli import cli\n"
        "try:\n"
        f"    cli(['logs', 'query', {str(log)!r}, '--count-by', 'tls_verify_status'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"names = {_VENDED_READERS!r}\n"
        "print(sorted(n for n in names if 'mtls_doctor.logs.vended.' + n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "tls_verify_status" in done.stdout, done.stderr  # the file was read
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
