"""One read policy: ``--strict`` means the same in every command that reads logs.

The first malformed line or file fault ends ``logs query``, ``ingest``, ``diagnose``,
``report`` and ``support-bundle`` with exit 3 and a message naming the file and the line;
without ``--strict`` the same input is read, reported and diagnosed.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.diagnose.corpus import crafted_lines, write_corpus


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _malformed(folder: Path) -> tuple[Path, int]:
    lines = crafted_lines()
    lines.insert(5, "this is not a connection log line")
    return write_corpus(folder, lines), 6


def _truncated(folder: Path) -> tuple[Path, int]:
    path = write_corpus(folder, [])
    data = gzip.compress(("\n".join(crafted_lines() * 40) + "\n").encode())
    path.write_bytes(data[: len(data) // 2])
    return path, 0  # the line after the last one read: not known here


def _commands(tmp_path: Path, path: Path) -> dict[str, list[str]]:
    return {
        "logs query": ["logs", "query", str(path), "--format", "jsonl"],
        "ingest": ["ingest", str(path), "--db", str(tmp_path / "s.duckdb")],
        "diagnose": ["diagnose", str(path), "--format", "json"],
        "report": ["report", str(path), "-o", str(tmp_path / "r.html")],
        "support-bundle": ["support-bundle", "--out", str(tmp_path / "b.zip"), str(path)],
    }


COMMANDS = ["logs query", "ingest", "diagnose", "report", "support-bundle"]


@pytest.mark.parametrize("reader", ["compiled", "pure"])
@pytest.mark.parametrize("damage", ["malformed line", "truncated gzip"])
@pytest.mark.parametrize("command", COMMANDS)
def test_strict_ends_every_command_with_exit_3_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, damage: str, reader: str
) -> None:
    if reader == "pure":
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    make = _malformed if damage == "malformed line" else _truncated
    path, line = make(tmp_path / "logs")
    # Near miss: without --strict the damage is reported and the command goes on; ingest
    # stores what it read, and a file not read in whole is its exit 3 (#19).
    (tmp_path / "lenient").mkdir()
    code, _, err = invoke(*_commands(tmp_path / "lenient", path)[command])
    cut_short = command == "ingest" and damage == "truncated gzip"
    assert code == 3 if cut_short else code in (0, 1), err
    if cut_short:
        assert "0 of 1 inputs read" in err and "rows added from 1 new file" in err
    code, out, err = invoke(*_commands(tmp_path, path)[command], "--strict")
    assert code == 3 and out == "", err
    found = re.search(rf"error: [^\n]*{re.escape(path.name)}:(\d+): ", err)
    assert found, err
    if line:
        assert int(found.group(1)) == line
    else:
        assert int(found.group(1)) > 1  # after the lines read before the fault
    assert "hint: " in err and "Traceback" not in err
    if command in ("report", "support-bundle"):
        assert not (tmp_path / "r.html").exists() and not (tmp_path / "b.zip").exists()


def test_strict_over_a_store_names_the_malformed_line_it_recorded(tmp_path: Path) -> None:
    path, line = _malformed(tmp_path / "logs")
    db = tmp_path / "s.duckdb"
    assert invoke("ingest", str(path), "--db", str(db))[0] == 0
    for args in (["diagnose", "--db", str(db)], ["logs", "query", "--db", str(db)]):
        code, _, _ = invoke(*args)
        assert code in (0, 1)
        code, _, err = invoke(*args, "--strict")
        assert code == 3 and f"{path.name}:{line}: " in err, err


def test_pure_reader_diagnoses_a_truncated_gzip_as_the_compiled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug: with MTLS_DOCTOR_PURE=1 a folder holding a truncated gzip was exit 3
    # ("Conversion Error ... to ENUM"): the repaired copy's name was not in the ENUM.
    _truncated(tmp_path / "logs")
    write_corpus(tmp_path / "logs" / "more", crafted_lines())
    args = ["diagnose", str(tmp_path / "logs"), "--format", "json"]
    code, compiled, _ = invoke(*args)
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    pure_code, pure, err = invoke(*args)
    assert (pure_code, code) == (1, 1), err
    one, other = json.loads(pure), json.loads(compiled)
    one.pop("generated_at"), other.pop("generated_at")
    assert one == other
    assert len(one["errors"]) == 1 and one["summary"]["connections"] > 100
