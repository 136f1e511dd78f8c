"""The rules of a well-mannered command line (issue #16), each checked on several commands.

Closed pipe ends quietly; a typo is exit 2 naming the nearest valid values; nothing read is
exit 3; an empty selection never reads as "no failures"; a failed ingest leaves no empty
store behind; empty values and stores given as logs are usage errors; --debug goes anywhere.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mtls_doctor.cli import cli
from mtls_doctor.logs.ingest import ingest_inputs
from tests.aws import conftest as aws_fixtures
from tests.conftest import write_log
from tests.logs.corpus import line

# The moto fixtures of tests/aws (one server per session), for the refused S3 ingest.
moto_endpoint = aws_fixtures.moto_endpoint
aws_env = aws_fixtures.aws_env


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _lines(n: int) -> list[str]:
    start = datetime(2024, 4, 5, 18, 0, tzinfo=UTC)
    statuses = ("Success", "Failed:ClientCertExpired", "Failed:ClientCertUntrusted")
    return [
        line(
            ts=(start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000001Z"),
            ip=f"203.0.113.{i % 200}",
            status=statuses[i % 3],
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hour-long log file (18:00 to 18:33 on 2024-04-05), 2,000 lines."""
    folder = tmp_path_factory.mktemp("manners")
    write_log(folder / "conn_log_big.log.gz", _lines(2000), gz=True)
    return folder


@pytest.fixture(scope="module")
def store(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "s.duckdb"
    ingest_inputs([str(logs)], db)
    return db


# -- 1. a closed pipe ends the command quietly ---------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "table"])
def test_closed_pipe_is_quiet_in_a_real_pipe(logs: Path, fmt: str) -> None:
    """`mtls-doctor logs query LOGS --format csv | head -1`: no message, exit 141 (SIGPIPE)."""
    args = [sys.executable, "-m", "mtls_doctor", "logs", "query", str(logs), "--format", fmt]
    env = {**os.environ, "PYTHONUNBUFFERED": "0"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first.strip()
    assert code in (0, 141), err
    assert "Broken pipe" not in err and "error" not in err and "Exception" not in err, err


def test_closed_pipe_in_sql_is_quiet(store: Path) -> None:
    args = [sys.executable, "-m", "mtls_doctor", "sql", "SELECT * FROM connections",
            "--db", str(store), "--format", "csv"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141) and err == "", err


def test_closed_pipe_in_process(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule where stdout fails on the first write (no SIGPIPE involved)."""
    import mtls_doctor.cli._output as output

    def closed(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(output.click, "echo", closed)
    code, out, err = run("logs", "query", str(logs), "--format", "jsonl")
    assert code == 141 and out == "" and "Broken pipe" not in err and "error" not in err


# -- 3. a --status typo is exit 2 with the nearest valid values ----------------------------


@pytest.mark.parametrize(
    ("value", "nearest"),
    [
        ("expired", "ClientCertExpired"),
        ("succes", "success"),
        ("fail", "failed"),
        ("ClientCertExpird", "ClientCertExpired"),
        ("Untrusted", "ClientCertUntrusted"),
        ("expird", "ClientCertExpired"),  # a misspelt word of a code
        ("purpos", "ClientCertPurposeInvalid"),
    ],
)
@pytest.mark.parametrize("command", [["diagnose"], ["logs", "query"], ["report", "-o", "-"]])
def test_status_typo_names_the_nearest_values(
    store: Path, command: list[str], value: str, nearest: str
) -> None:
    code, out, err = run(*command, "--db", str(store), "--status", value)
    assert code == 2 and out == ""
    assert f"--status {value!r} is neither a status nor a code" in err
    # The hint names ClientCertExpired as an example: look in the "nearest:" list itself.
    assert nearest in err.split("nearest:", 1)[-1].splitlines()[0]


@pytest.mark.parametrize("value", ["not-tls", "not_tls", "FAILED", "clientcertexpired",
                                   "Failed:ClientCertBrandNew", "ClientCertBrandNew"])  # fmt: skip
def test_valid_statuses_and_new_codes_still_work(store: Path, value: str) -> None:
    code, out, _ = run("logs", "query", "--db", str(store), "--status", value, "--format", "json")
    assert code == 0 and isinstance(json.loads(out or "[]"), list)


# -- 4. an inverted window is exit 2 --------------------------------------------------------


@pytest.mark.parametrize("command", [["diagnose"], ["logs", "query"], ["report", "-o", "-"]])
def test_inverted_window_is_a_usage_error(store: Path, command: list[str]) -> None:
    window = ["--since", "2024-04-06T00:00:00Z", "--until", "2024-04-05T00:00:00Z"]
    code, out, err = run(*command, "--db", str(store), *window)
    assert code == 2 and out == ""
    assert "--since 2024-04-06T00:00:00Z is not before --until 2024-04-05T00:00:00Z" in err


def test_since_at_or_after_at_names_at_not_until(store: Path) -> None:
    """With --at and no --until, the window ends at --at: the message must name it."""
    code, out, err = run("diagnose", "--db", str(store), "--at", "2024-04-05T00:00:00Z",
                         "--since", "2024-04-06T00:00:00Z")  # fmt: skip
    assert code == 2 and out == ""
    assert "is not before --at 2024-04-05T00:00:00Z" in err and "--until" not in err


def test_inverted_window_on_s3_ingest_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    code, _, err = run("ingest", "s3://bucket/p", "--db", str(db), "--since", "1h",
                       "--until", "2h")  # fmt: skip
    assert code == 2 and "is not before --until" in err and not db.exists()


# -- 5. a failed ingest leaves no store it created and committed nothing to ------------------


def test_ingest_of_a_missing_path_leaves_no_store(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    code, out, err = run("ingest", str(tmp_path / "nosuch"), "--db", str(db))
    assert code == 3 and out == "" and "nosuch: no such file" in err
    assert not db.exists() and not list(tmp_path.glob("x.duckdb*"))
    # ... so a later diagnose cannot read it as a healthy store with no failures.
    code, _, err = run("diagnose", "--db", str(db))
    assert code == 3 and "no store here" in err


def test_refused_s3_ingest_leaves_no_store(tmp_path: Path, aws_env: str) -> None:
    """S3 (moto on 127.0.0.1) answers that the bucket does not exist: no store remains."""
    db = tmp_path / "x.duckdb"
    code, out, err = run("ingest", "s3://no-such-bucket-16/web", "--db", str(db))
    assert code in (3, 4) and out == "" and "no-such-bucket-16" in err, err
    assert not db.exists() and not list(tmp_path.glob("x.duckdb*"))


def test_failed_ingest_keeps_a_store_that_existed(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "kept.duckdb"
    copy.write_bytes(store.read_bytes())
    code, _, _ = run("ingest", str(tmp_path / "nosuch"), "--db", str(copy))
    assert code == 3 and copy.exists()
    code, out, _ = run("sql", "SELECT count(*) AS n FROM connections", "--db", str(copy),
                       "--format", "json")  # fmt: skip
    assert json.loads(out) == [{"n": 2000}]


def test_ingest_of_a_folder_without_connection_logs_is_exit_3(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    write_log(folder / "readme.txt", ["hello"])
    db = tmp_path / "y.duckdb"
    code, out, err = run("ingest", str(folder), "--db", str(db))
    assert code == 3 and out == "" and "no connection-log file among the inputs" in err
    assert not db.exists()
    # Near miss: with no PATHS, ingest only creates the store, and that is success.
    code, _, _ = run("ingest", "--db", str(db))
    assert code == 0 and db.exists()
    code, _, err = run("diagnose", "--db", str(db))
    assert code == 3 and "no connection could be read from the store" in err


# -- 6. nothing read is exit 3; an empty window says where the logs are ---------------------


def test_logs_query_of_a_text_file_is_exit_3(tmp_path: Path) -> None:
    notes = write_log(tmp_path / "notes.txt", ["hello world"])
    code, out, err = run("logs", "query", str(notes))
    assert code == 3 and out == ""
    assert f"no connection could be read from {notes}" in err
    code, out, err = run("diagnose", str(notes))
    assert code == 3 and out == "" and "error:" in err


@pytest.mark.parametrize("source", ["files", "store"])
def test_diagnose_of_an_empty_window_says_where_the_logs_are(
    logs: Path, store: Path, source: str
) -> None:
    where = [str(logs)] if source == "files" else ["--db", str(store)]
    window = ["--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z"]
    code, out, err = run("diagnose", *where, *window)
    assert code == 3 and out == "" and "No failed" not in out
    assert (
        "no connections between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z "
        "(the logs span 2024-04-05T18:00:00.000001Z to 2024-04-05T18:33:19.000001Z)" in err
    )
    code, out, err = run("report", *where, *window, "-o", "-")
    assert code == 3 and out == "" and "no connections between" in err


def test_logs_query_of_an_empty_window_is_exit_0_with_a_note(logs: Path) -> None:
    window = ["--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z"]
    code, out, err = run("logs", "query", str(logs), *window, "--format", "json")
    assert code == 0 and json.loads(out) == []
    assert "no connections between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z" in err


def test_diagnose_with_filters_matching_nothing_is_not_no_failures(store: Path) -> None:
    code, out, err = run("diagnose", "--db", str(store), "--client-ip", "198.51.100.1")
    assert (
        code == 3
        and out == ""
        and "no connection matches the filters; 2000 connection(s) read" in err
    )


# -- 7. a store given as a log path --------------------------------------------------------


@pytest.mark.parametrize("command", [["diagnose"], ["logs", "query"], ["ingest"], ["report"]])
def test_a_store_given_as_a_log_path_is_one_line(store: Path, command: list[str]) -> None:
    code, out, err = run(*command, str(store))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {store} is a DuckDB store, not a connection log",
        f"hint: Read a store with --db {store}",
    ]


# -- 8. file faults in the text views ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_file_faults_are_listed_in_text_views(tmp_path: Path, fmt: str) -> None:
    data = gzip.compress(("\n".join(_lines(300)) + "\n").encode())
    (tmp_path / "conn_log_cut.log.gz").write_bytes(data[: len(data) // 2])
    write_log(tmp_path / "conn_log_ok.log.gz", _lines(10), gz=True)
    code, out, _ = run("diagnose", str(tmp_path), "--format", "json")
    assert code == 1
    errors = json.loads(out)["errors"]
    assert any("conn_log_cut.log.gz" in e["file"] and "truncated" in e["message"] for e in errors)
    code, out, _ = run("diagnose", str(tmp_path), "--format", fmt)
    assert code == 1 and "Read problems" in out
    assert "conn_log_cut.log.gz: truncated gzip stream" in out


# -- 9. private keys under --certs ---------------------------------------------------------


def test_certs_folder_with_keys_is_one_short_line(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clients"
    for name in ("alice", "bob"):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (folder / name).mkdir(parents=True)
        (folder / name / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (folder / name / "key.pem").write_bytes(pem)
    for fmt in ("text", "json"):
        code, out, err = run("diagnose", "--db", str(store), "--certs", str(folder),
                             "--format", fmt)  # fmt: skip
        assert code == 1
        text = out + err
        assert "PRIVATE KEY" not in text and "key.pem" not in text
        assert "no certificate found" not in text
        assert "--certs: 2 private-key file(s) skipped" in text
        (said,) = [x for x in text.splitlines() if "private-key" in x]
        assert len(said) < 80


# -- 10. empty values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["cert", "check", "chain.pem", "--log-line", ""],
        ["diagnose", "--db", "x.duckdb", "--client-ip", ""],
        ["diagnose", ""],
        ["logs", "query", "--db", ""],
        ["diagnose", "--db", "x.duckdb", "--certs", ""],
    ],
)
def test_an_empty_value_is_a_usage_error(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and " is empty\nhint: " in err


def test_a_default_empty_value_is_fine() -> None:
    """`aws connection-logs --prefix` defaults to "": only typed empty values are refused."""
    code, _, err = run("aws", "connection-logs", "arn", "--bucket", "b")
    assert code == 2 and "--bucket, --prefix and --yes go with --enable" in err


# -- 11. help texts and --debug ------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["aws", "listener"], ["aws", "connection-logs"], ["aws", "trust-store", "fetch"]]
)
def test_aws_region_help_does_not_talk_of_log_folders(command: list[str]) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0 and "region folder" not in out and "AWS_REGION" in " ".join(out.split())


def test_demo_help_gives_the_durations_of_the_docs() -> None:
    code, out, _ = run("demo", "--help")
    flat = " ".join(out.split())
    assert code == 0 and "an hour" not in flat
    assert "30 simulated minutes" in flat and "20 more minutes" in flat


def test_debug_after_the_subcommand(tmp_path: Path) -> None:
    code, _, err = run("diagnose", str(tmp_path / "nosuch"), "--debug")
    assert code != 0 and "No such option" not in err
    result = CliRunner().invoke(cli, ["diagnose", str(tmp_path / "nosuch"), "--debug"])
    assert result.exception is not None and type(result.exception).__name__ == "InputError"
    # Near miss: without --debug the error is one line and a hint, no trace.
    code, _, err = run("diagnose", str(tmp_path / "nosuch"))
    assert code == 3 and "Traceback" not in err and err.startswith("error: ")


def test_every_help_lists_the_exit_codes() -> None:
    for command in (["diagnose"], ["logs", "query"], ["cert", "check"], ["serve"], []):
        code, out, _ = run(*command, "--help")
        flat = " ".join(out.split())
        assert code == 0
        for needle in ("0 ok", "1 findings", "2 usage", "3 bad input", "4 environment",
                       "130 interrupted", "141 stdout closed"):  # fmt: skip
            assert needle in flat, (command, needle)


# -- 2. --region, --profile and AWS_REGION reach Athena ------------------------------------


@pytest.fixture
def no_aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """No profile, region or credentials from this machine; each client's region recorded,
    then the command stopped (exit 4) before anything is sent."""
    from mtls_doctor.aws import session
    from mtls_doctor.errors import AwsAccessError

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    seen: list[tuple[str, str]] = []
    real = session.new_client

    def recording(service: str, **kwargs: object) -> object:
        client = real(service, **kwargs)  # type: ignore[arg-type]
        seen.append((service, client.meta.region_name))
        raise AwsAccessError(f"stopped after {service} client", hint="test")

    monkeypatch.setattr(session, "new_client", recording)
    return seen


ATHENA_COMMANDS = [
    ["diagnose", "--engine", "athena"],
    ["report", "--engine", "athena", "-o", "-"],
    ["logs", "query", "--engine", "athena"],
    [
        "athena",
        "setup",
        "--location",
        "s3://my-alb-logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
    ],
]


@pytest.mark.parametrize("command", ATHENA_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_athena_takes_region_option(
    command: list[str], no_aws_config: list[tuple[str, str]]
) -> None:
    code, out, err = run(*command, "--region", "ap-south-2")
    assert code == 4 and out == "" and "stopped after athena client" in err
    assert no_aws_config == [("athena", "ap-south-2")]


@pytest.mark.parametrize("command", ATHENA_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_athena_takes_aws_region(
    command: list[str], no_aws_config: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-south-1")
    code, _, err = run(*command)
    assert code == 4 and "stopped after athena client" in err
    assert no_aws_config == [("athena", "eu-south-1")]


@pytest.mark.parametrize("command", ATHENA_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_athena_takes_profile_option(
    command: list[str], no_aws_config: list[tuple[str, str]]
) -> None:
    code, out, err = run(*command, "--profile", "nosuch-16", "--region", "eu-west-1")
    assert code == 4 and out == "" and "AWS profile 'nosuch-16' not found" in err
