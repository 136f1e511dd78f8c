"""CLI tests of ``logs query``, ``ingest`` and ``sql``: exit codes, stdout, stderr."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.fields import OUTPUT_COLUMNS
from tests.conftest import write_log
from tests.logs.corpus import AWS_SUCCESS, PLAIN_HTTP, line


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def corpus(logdir: Path) -> Path:
    write_log(
        logdir / "a" / "conn_log_1.log.gz",
        [
            line(ip="203.0.113.9", subject='"CN=alice smith,O=Example, Inc."', serial="0A1B"),
            line(ip="203.0.113.9", status="Success", ts="2024-04-05T19:00:00.000000Z"),
            line(ip="203.0.113.10", status="Failed:ClientCertUntrusted", port="8443"),
            line(ip="2001:db8::5", status="Failed:ClientCertCrlHit"),
            PLAIN_HTTP,
            AWS_SUCCESS,
        ],
        gz=True,
    )
    write_log(logdir / "ELBConnectionLogTestFile", ["whatever"])
    write_log(logdir / "123456789012_elasticloadbalancing_us-east-2_app.x.log.gz", ["x"])
    write_log(logdir / "notes.txt", ["hello"])
    return logdir


def jsonl(out: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in out.splitlines()]


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--client-ip", "203.0.113.9"], 2),
        (["--client-ip", "203.0.113.0/24"], 4),
        (["--client-ip", "2001:db8::/32"], 1),
        (["--client-ip", "2001:db8::6"], 0),
        (["--since", "2024-04-05T18:30:00Z"], 2),
        (["--until", "2024-04-05T18:30:00Z"], 4),
        (["--status", "failed"], 3),
        (["--status", "success"], 2),
        (["--status", "not-tls"], 1),
        (["--status", "ClientCertUntrusted"], 1),
        (["--status", "Failed:ClientCertCrlHit"], 1),
        (["--subject", "ALICE SMITH"], 1),
        (["--serial", "a1b"], 1),
        (["--serial", "a1c"], 0),
        (["--listener-port", "8443"], 1),
        (["--tls-protocol", "TLSv1.2"], 5),
        (["--limit", "2"], 2),
    ],
)
def test_each_filter(corpus: Path, option: list[str], expected: int) -> None:
    code, out, err = run("logs", "query", str(corpus), "--format", "jsonl", *option)
    assert code == 0, err
    rows = jsonl(out)
    assert len(rows) == expected
    assert all(list(r) == list(OUTPUT_COLUMNS) for r in rows)


def test_relative_since(corpus: Path) -> None:
    code, out, _ = run("logs", "query", str(corpus), "--since", "2h", "--format", "jsonl")
    assert code == 0 and out == ""  # the corpus is years old


def test_folder_skips_other_objects(corpus: Path) -> None:
    code, _, err = run("logs", "query", str(corpus), "--format", "json")
    assert code == 0
    assert "notes.txt: not a connection-log name" in err
    assert "ELBConnectionLogTestFile" not in err and "elasticloadbalancing" not in err


def test_formats(corpus: Path) -> None:
    _, out, _ = run("logs", "query", str(corpus), "--format", "json", "--status", "failed")
    rows = json.loads(out)
    assert {r["error_code"] for r in rows} == {
        "ClientCertExpired",
        "ClientCertUntrusted",
        "ClientCertCrlHit",
    }
    assert all(r["source_file"].endswith("conn_log_1.log.gz") for r in rows)
    assert rows[0]["timestamp"].endswith("Z") and rows[0]["not_before"] == "2024-01-01T00:00:00Z"
    _, out, _ = run("logs", "query", str(corpus), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 6 and list(table[0]) == list(OUTPUT_COLUMNS)
    _, out, _ = run("logs", "query", str(corpus))
    assert out.splitlines()[0].split()[:2] == ["timestamp", "client_ip"] and "203.0.113.9" in out


def test_count_by(corpus: Path) -> None:
    args = ("logs", "query", str(corpus), "--count-by", "verify_result,listener_port")
    code, out, _ = run(*args, "--format", "json")
    assert code == 0
    counts = {(r["verify_result"], r["listener_port"]): r["count"] for r in json.loads(out)}
    assert counts == {
        ("failed", 443): 2,
        ("failed", 8443): 1,
        ("success", 443): 2,
        ("not_tls", 80): 1,
    }
    code, _, err = run("logs", "query", str(corpus), "--count-by", "nope")
    assert code == 2 and "unknown field 'nope'" in err


def test_stdin(corpus: Path) -> None:
    data = (line() + "\n").encode()
    code, out, _ = run("logs", "query", "-", "--format", "jsonl", stdin=data)
    assert code == 0 and jsonl(out)[0]["source_file"] == "<stdin>"


def test_malformed_lines_summary_and_strict(logdir: Path) -> None:
    path = write_log(logdir / "conn_log_m.log", [line(), "garbage", line()])
    code, out, err = run("logs", "query", str(path), "--format", "jsonl")
    assert code == 0 and len(jsonl(out)) == 2
    assert f"{path}:2: malformed line skipped" in err and "1 malformed line(s) skipped" in err
    code, out, err = run("logs", "query", str(path), "--strict", "--format", "jsonl")
    assert code == 3 and out == "" and f"error: {path}:2:" in err


def test_truncated_gzip_reported_and_others_read(logdir: Path) -> None:
    good = write_log(logdir / "conn_log_good.log.gz", [line()], gz=True)
    whole = write_log(logdir / "conn_log_cut.log.gz", [line()] * 2000, gz=True).read_bytes()
    (logdir / "conn_log_cut.log.gz").write_bytes(whole[: len(whole) // 2])
    code, out, err = run("logs", "query", str(logdir), "--format", "jsonl")
    assert code == 0 and "conn_log_cut.log.gz: truncated gzip" in err
    assert "lines before the fault" in err
    assert any(r["source_file"] == str(good) for r in jsonl(out))


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["logs", "query", "/no/such/dir"], 3, "/no/such/dir: no such file"),
        (["logs", "query", "--db", "{tmp}/garbage.duckdb"], 3, "garbage.duckdb"),
        (["logs", "query", "--db", "{tmp}"], 2, "is a directory"),
        (["sql", "SELECT 1", "--db", "{tmp}/missing.duckdb"], 3, "no store here"),
        (["logs", "query", "x", "--client-ip", "nope"], 2, "'nope' is not an IP"),
        (["logs", "query", "x", "--since", "yesterday"], 2, "'yesterday' is not a time"),
        (["logs", "query", "x", "--since", "99999999999d"], 2, "is not a time"),
        (["logs", "query", "x", "--client-ip", ""], 2, "--client-ip is empty"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    (tmp_path / "garbage.duckdb").write_bytes(b"\x00garbage" * 1000)
    got, out, err = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert got == code and needle in err and "Traceback" not in err and out == ""


def test_garbage_bytes_file(logdir: Path) -> None:
    path = logdir / "conn_log_bin.log.gz"
    path.write_bytes(b"\x1f\x8b\x08garbage-not-deflate" * 10)
    code, _, err = run("logs", "query", str(path))
    assert code == 3 and "conn_log_bin.log.gz: corrupt gzip" in err and "Traceback" not in err
    assert "no connection could be read" in err


def test_ingest_query_sql(corpus: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    code, out, _ = run("ingest", str(corpus), "--db", db, "--format", "json")
    assert code == 0 and json.loads(out)["added_rows"] == 6
    code, out, _ = run("ingest", str(corpus), "--db", db, "--format", "json")
    assert json.loads(out)["added_rows"] == 0 and json.loads(out)["unchanged_files"] == 1
    code, out, _ = run("logs", "query", "--db", db, "--status", "failed", "--format", "jsonl")
    assert code == 0 and len(jsonl(out)) == 3
    code, out, _ = run(
        "sql", "SELECT count(*) AS n FROM connections", "--db", db, "--format", "json"
    )
    assert code == 0 and json.loads(out) == [{"n": 6}]
    code, out, err = run("sql", "DELETE FROM connections", "--db", db)
    assert code == 3 and "error: SQL failed" in err
    code, out, _ = run(
        "sql", "SELECT count(*) AS n FROM connections", "--db", db, "--format", "json"
    )
    assert json.loads(out) == [{"n": 6}]  # the write did not happen


def test_article_recipe_vs_awk(logdir: Path) -> None:
    """``awk '$2 == ip && $11 ~ "Failed"'`` misses failures whose subject holds a space."""
    ip = "203.0.113.9"
    write_log(
        logdir / "conn_log_r.log.gz",
        [
            line(ip=ip, subject='"CN=nospace"', status="Failed:ClientCertExpired"),
            line(ip=ip, subject='"CN=two words,O=Example"', status="Failed:ClientCertUntrusted"),
            line(ip=ip, subject='"CN=a,O=Example Corp,L=New York"', status="Success"),
            line(ip="203.0.113.10", subject='"CN=x"', status="Failed:ClientCertExpired"),
        ],
        gz=True,
    )
    files = sorted(str(p) for p in logdir.glob("*.gz"))
    awk = subprocess.run(
        f'zcat {" ".join(files)} | awk \'($2 == "{ip}" && $11 ~ "Failed")\'',
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    awk_hits = awk.stdout.splitlines()
    # awk finds the one-word subject only, and counts by the wrong column elsewhere.
    assert len(awk_hits) == 1 and "CN=nospace" in awk_hits[0]
    code, out, _ = run(
        "logs", "query", str(logdir), "--client-ip", ip, "--status", "failed", "--format", "jsonl"
    )
    rows = jsonl(out)
    assert code == 0
    assert [r["error_code"] for r in rows] == ["ClientCertExpired", "ClientCertUntrusted"]


def test_ingest_json_lists_each_file(tmp_path: Path) -> None:
    from tests.diagnose.corpus import write_corpus

    corpus = write_corpus(tmp_path / "logs")
    db = tmp_path / "s.duckdb"
    code, out, _ = run("ingest", str(corpus), "--db", str(db), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["files_read"] == 1
    assert [f["status"] for f in data["files"]] == ["added"]
    code, out, _ = run("ingest", str(corpus), "--db", str(db), "--format", "json")
    assert [f["status"] for f in json.loads(out)["files"]] == ["unchanged"]


def test_over_long_line_is_malformed_and_the_rest_is_read(tmp_path: Path) -> None:
    from tests.diagnose.corpus import T0, entry

    good = entry(T0, "198.51.100.1", "Success")
    (tmp_path / "conn_log_big.log").write_text(f"{good}\n{'A' * 3_000_000}\n{good}\n")
    (tmp_path / "conn_log_ok.log").write_text(f"{good}\n")
    code, out, err = run(
        "logs", "query", str(tmp_path), "--count-by", "verify_result", "--format", "json"
    )
    assert code == 0 and json.loads(out) == [{"verify_result": "success", "count": 3}]
    assert "conn_log_big.log:2: malformed line skipped" in err
    assert "longer than" in err


def test_ipv6_address_matches_any_spelling(tmp_path: Path) -> None:
    from tests.diagnose.corpus import T0, entry

    lines = [
        entry(T0, "2001:DB8:0:0::1", "Failed:ClientCertExpired"),
        entry(T0, "2001:db8::2", "Success"),
    ]
    (tmp_path / "conn_log_v6.log").write_text("\n".join(lines) + "\n")
    code, out, _ = run(
        "logs", "query", str(tmp_path), "--client-ip", "2001:db8::1", "--format", "json"
    )
    rows = json.loads(out)
    assert code == 0 and [r["client_ip"] for r in rows] == ["2001:DB8:0:0::1"]
    code, out, _ = run(
        "logs", "query", str(tmp_path), "--client-ip", "2001:db8::3", "--format", "json"
    )
    assert json.loads(out) == []
