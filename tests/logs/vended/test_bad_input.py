"""Bad vended input: a record that cannot be read is a malformed line named by file and line,
as for the legacy format; the other records are still read; no traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.fields import VENDED_FIELD_NAMES
from tests.diagnose.corpus import crafted_lines
from tests.logs.corpus import AWS_FAILED, AWS_SUCCESS
from tests.logs.vended.records import json_lines, record


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=["compiled", "pure"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pure":
        monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    return str(request.param)


def _query(path: Path, *more: str) -> tuple[int, list[dict[str, object]], str]:
    code, out, err = invoke("logs", "query", str(path), "--format", "json", *more)
    return code, (json.loads(out) if code == 0 else []), err


def test_a_truncated_last_record_is_a_malformed_line_the_others_read(
    tmp_path: Path, reader: str
) -> None:
    lines = crafted_lines()
    text = json_lines(lines, typed=True)
    path = tmp_path / "records.json"
    path.write_text(text[: text.rindex('"tls_verify_status"')])  # the last record cut
    code, rows, err = _query(path)
    assert code == 0 and len(rows) == len(lines) - 1
    assert f"{path}:{len(lines)}" in err and "truncated JSON record" in err
    code, _out, err = invoke("logs", "query", str(path), "--strict")
    assert code == 3 and "Traceback" not in err
    assert f"error: {path}:{len(lines)}: truncated JSON record" in err


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            '{"time": "2024-04-05T12:00:00.000000Z", "client_ip": {"v": 1}}',
            "client_ip is an object",
        ),
        ('{"time": ["x"], "tls_verify_status": "Success"}', "time is a list"),
        ("[1, 2]", "not a JSON object"),
        ('{"time": "x", "client_ip": "1.2.3.4",}', "not a JSON record"),
        ('{"time": 12, "tls_verify_status": "Success"', "truncated JSON record"),
    ],
)
def test_records_of_the_wrong_shape_are_named_by_line(
    tmp_path: Path, reader: str, bad: str, reason: str
) -> None:
    lines = crafted_lines()[:5]
    records = [json.dumps(record(x, typed=True)) for x in lines]
    records.insert(2, bad)
    path = tmp_path / "part.json.gz"
    path.write_bytes(gzip.compress(("\n".join(records) + "\n").encode()))
    code, rows, err = _query(path)
    assert code == 0, err
    assert len(rows) == 5
    assert f"{path}:3" in err and reason in err


def test_a_value_of_another_type_in_a_column_still_reads(tmp_path: Path, reader: str) -> None:
    lines = crafted_lines()
    records = [record(x, typed=True) for x in lines]
    for rec in records:  # "-" for an empty latency, a number for the others
        if rec["tls_handshake_latency"] is None:
            rec["tls_handshake_latency"] = "-"
    assert {type(r["tls_handshake_latency"]) for r in records} == {str, float}
    path = tmp_path / "mixed.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    legacy = tmp_path / "conn_log_x.log"
    legacy.write_text("".join(x + "\n" for x in lines))
    assert _query(path)[1] and [
        {k: v for k, v in r.items() if k != "source_file"} for r in _query(path)[1]
    ] == [{k: v for k, v in r.items() if k != "source_file"} for r in _query(legacy)[1]]


def test_a_truncated_gzip_keeps_the_records_before_the_fault(tmp_path: Path, reader: str) -> None:
    lines = crafted_lines() * 40
    data = gzip.compress(json_lines(lines).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    code, rows, err = _query(path)
    assert code == 0 and 0 < len(rows) < len(lines)
    assert "truncated gzip" in err and str(path) in err
    code, _, err = invoke("logs", "query", str(path), "--strict")
    assert code == 3 and "truncated gzip" in err and "Traceback" not in err


def test_access_log_records_only_read_nothing(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "access.json"
    path.write_text('{"time": "2024-04-05T12:00:00Z", "client_port": 1, "elb": "app/x/1"}\n')
    code, out, err = invoke("logs", "query", str(path), "--format", "json")
    assert "Traceback" not in err
    assert code in (0, 3)
    if code == 0:
        assert json.loads(out) == []


def test_a_w3c_line_with_the_wrong_field_count_is_malformed(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "w3c.log"
    names = " ".join(VENDED_FIELD_NAMES[:12])
    path.write_text(f"#Fields: {names}\n{AWS_SUCCESS}\n1 2\n{AWS_FAILED}\n")
    code, rows, err = _query(path)
    assert code == 0 and len(rows) == 2
    assert f"{path}:3" in err and "not 12 fields separated by spaces" in err
