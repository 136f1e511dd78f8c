"""``report``, ``serve`` and ``demo`` through click."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli, report_cmds
from tests.web.logdata import make_store, write_logs


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("cli"))


def test_report_from_store_writes_file_and_exits_1_on_failures(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 1, result.stderr
    assert result.stdout.strip() == str(out)
    assert "80 failed" in result.stderr and "<svg" in out.read_text()


def test_report_with_filters_and_no_failures_exits_0(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = ["report", "--db", str(db), "--status", "success", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "No failed mTLS connections" in out.read_text()


def test_report_from_files_to_stdout(tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "logs")
    result = CliRunner().invoke(cli, ["report", str(logs), "--since", "2024-04-05T17:30Z",
                                      "-o", "-"])  # fmt: skip
    assert result.exit_code == 1 and result.stdout.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--status", "Failed:<x>"], 2, "is neither a status nor a code"),
        (["--since", "yesterday"], 2, "is not a time"),
        (["--db", "/nonexistent/x.duckdb"], 3, "no store here"),
    ],
)
def test_report_bad_input(db: Path, args: list[str], code: int, message: str) -> None:
    full = ["report", *(["--db", str(db)] if "--db" not in args else []), *args, "-o", "-"]
    result = CliRunner().invoke(cli, full)
    assert result.exit_code == code and message in result.stderr and not result.stdout


def test_report_of_unreadable_files_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "conn_log_x.log").write_text("garbage\n")
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 3 and "error:" in result.stderr


class _StopAtOnce:
    class Event:
        def wait(self) -> None:
            raise KeyboardInterrupt


def test_serve_prints_url_warns_on_public_host_and_stops(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_cmds, "threading", _StopAtOnce)
    result = CliRunner().invoke(cli, ["serve", "--db", str(db), "--host", "0.0.0.0",
                                      "--port", "0"])  # fmt: skip
    assert result.exit_code == 130, result.stderr  # Ctrl-C, as the README's table says
    assert result.stdout.startswith("http://0.0.0.0:") and "warning:" in result.stderr
    # Near miss: the default host is loopback and warns about nothing.
    quiet = CliRunner().invoke(cli, ["serve", "--db", str(db), "--port", "0"])
    assert quiet.stdout.startswith("http://127.0.0.1:") and "warning" not in quiet.stderr


def test_serve_without_store_is_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 3 and "no store here" in result.stderr


def test_demo_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mtls_doctor.demo as demo

    real = demo.run_demo

    def short(out: Path, **kw: Any) -> Any:
        return real(out, before_minutes=4, after_minutes=3, **kw)

    monkeypatch.setattr(demo, "run_demo", short)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert Path(data["report"]).is_file() and data["failed"] > 0
    assert "phase 1" in result.stderr
    for name in ("--help",):
        assert "Example" in CliRunner().invoke(cli, ["demo", name]).stdout
