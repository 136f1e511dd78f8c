"""Every command is documented (help text with an example, a place in the README), and every
example of README.md and docs/*.md that needs no AWS runs on the demo data as documented."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.errors import ExitCode
from tests.docs_examples import Example, build_workdir, examples, header_value, skip_reason

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))


def commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            full = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                yield from walk(command, full)
            else:
                yield full, command

    return walk(cli, "")


LEAVES = sorted(commands(), key=lambda item: item[0])


def test_there_are_commands() -> None:
    assert len(LEAVES) > 20


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[n for n, _ in LEAVES])
def test_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help, f"{name} has no help text"
    assert re.search(r"Examples?:", command.help), f"{name} --help shows no example"


@pytest.mark.parametrize(("name", "command"), LEAVES, ids=[n for n, _ in LEAVES])
def test_command_is_in_the_readme_and_the_docs(name: str, command: click.Command) -> None:
    assert f"mtls-doctor {name}" in README or f"`{name}`" in README, f"{name} not in README"
    assert f"mtls-doctor {name}" in DOCS + README, f"{name} has no example in the docs"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[1] == "```"
    assert lines[2].startswith("make demo") and lines[3].startswith("make test")


def test_exit_codes_are_documented_in_readme_and_help() -> None:
    for code in ExitCode:
        assert f"| {int(code)} |" in README, f"exit code {int(code)} missing from README"
        assert str(int(code)) in (cli.epilog or ""), f"exit code {int(code)} missing from --help"


# -- The examples of the docs run against the demo data, and exit as documented -------------

EXAMPLES = examples()

# The exit code of each example on the demo data (0 ok, 1 findings: the demo has failures,
# and its expired client fails a check). A new or changed example fails the test until it is
# listed here or skipped in tests/docs_examples.py.
EXIT: dict[str, int] = {
    "mtls-doctor diagnose --db demo-out/connections.duckdb": 1,
    "mtls-doctor logs query logs/ --client-ip 203.0.113.9 --status failed": 0,
    "mtls-doctor logs query logs/ --count-by tls_verify_status": 0,
    "mtls-doctor ingest logs/ --db incident.duckdb": 0,
    "mtls-doctor logs query --db incident.duckdb --since 2h --status ClientCertExpired "
    "--format csv": 0,
    'mtls-doctor sql "SELECT error_code, count(*) FROM connections GROUP BY 1" '
    "--db incident.duckdb": 0,
    "mtls-doctor diagnose logs/": 1,
    "mtls-doctor diagnose --db incident.duckdb --since 6h --format markdown": 1,
    "mtls-doctor diagnose logs/ --trust-store bundle.pem --crl revoked.pem --certs clients/": 1,
    "mtls-doctor explain ClientCertUntrusted": 0,
    "mtls-doctor explain failed:clientcertexpired --format markdown": 0,
    "mtls-doctor explain --list": 0,
    "mtls-doctor cert inspect client-chain.pem": 0,
    "mtls-doctor cert check client-chain.pem --trust-store bundle.pem --crl revoked.pem "
    "--at 2024-04-05T18:31:29Z": 1,
    "mtls-doctor cert check client-chain.pem --trust-store bundle.pem "
    '--log-line "$(zcat logs/*.log.gz | grep -m1 ClientCertExpired)"': 1,
    "mtls-doctor trust-store check bundle.pem --crl revoked.pem --fix cleaned.pem": 0,
    "mtls-doctor pki scenarios ./pki": 0,
    "mtls-doctor diagnose ./sandbox-logs": 1,
    "mtls-doctor report logs/ -o report.html": 1,
    "mtls-doctor report --db incident.duckdb --since 24h --trust-store bundle.pem "
    "-o report.html": 1,
    "mtls-doctor athena ddl --location "
    "s3://my-log-bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/": 0,
    "mtls-doctor athena ddl --kind json --location s3://my-log-bucket/AWSLogs/"
    "aws-account-id=123456789012/elasticloadbalancing/region=eu-west-1/": 0,
    "mtls-doctor athena ddl --kind parquet --location s3://my-log-bucket/AWSLogs/"
    "aws-account-id=123456789012/elasticloadbalancing/region=eu-west-1/": 0,
    "mtls-doctor cert inspect client.der --format json": 0,
    "mtls-doctor cert check chain.pem --trust-store bundle.pem --crl ca.crl.pem "
    "--at 2025-06-01T12:00:00Z": 1,
    "mtls-doctor cert check chain.pem --trust-store bundle.pem --ignore-expiry --format json": 0,
    "mtls-doctor cert check chain.pem --trust-store bundle.pem "
    '--log-line "$(zcat conn.log.gz | head -1)"': 1,
    "mtls-doctor cert check chain.pem --trust-store bundle.pem "
    "--limit chain_depth_counts=presented": 1,
    "mtls-doctor trust-store check bundle.pem --crl ca.crl.pem": 0,
    "mtls-doctor trust-store check bundle.pem --warn-days 60 --fix bundle.clean.pem "
    "--format json": 0,
    "mtls-doctor explain Failed:ClientCertCrlHit --format markdown > ticket.md": 0,
    "mtls-doctor explain ClientCertExpired --format json | jq .fix_summary": 0,
    "mtls-doctor explain --list --format markdown": 0,
    'mtls-doctor header decode "$CERT_HEADER_VALUE"': 0,
    "mtls-doctor header decode - < captured-value.txt": 0,
    "mtls-doctor header decode - --trust-store bundle.pem --crl ca.crl.pem "
    "--at 2024-04-05T18:31:29Z < headers.txt": 1,
    "mtls-doctor logs query logs/ --count-by error_code,client_ip --format json": 0,
    "mtls-doctor ingest logs/ --db incident.duckdb --format json": 0,
    'mtls-doctor sql "SELECT error_code, count(*) AS n FROM connections GROUP BY 1" '
    "--db incident.duckdb": 0,
    "mtls-doctor policy list": 0,
    "mtls-doctor policy show ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09": 0,
    "mtls-doctor policy show TLS13-1-2-FIPS-2023-04 --format json": 0,
    # The demo has one client on TLS 1.1 (demo/run.py): a TLS 1.2+ policy refuses it.
    "mtls-doctor policy check ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 logs/": 1,
    "mtls-doctor diagnose logs/ --tls": 1,
    "mtls-doctor logs query vended/ --count-by tls_verify_status": 0,
    "mtls-doctor diagnose vended/part-00000.json.gz": 1,
    "mtls-doctor ingest vended/ --db incident.duckdb": 0,
    "mtls-doctor report logs/ --no-tls -o report.html": 1,
    "mtls-doctor policy check TLS13-1-3-2021-06 --db incident.duckdb --since 7d --format json": 1,
    "mtls-doctor policy check --compare ELBSecurityPolicy-2016-08 TLS13-1-2-Res-PQ-2025-09 "
    "logs/": 1,
    "mtls-doctor cert check chain.pem --policy ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07": 1,
    "mtls-doctor cert check chain.pem --trust-store bundle.pem --policy TLS13-1-3-2021-06 "
    "--format json": 1,
    "mtls-doctor explain ClientCertIncompatible": 0,
    "mtls-doctor report --db incident.duckdb --since 6h --trust-store bundle.pem --crl crl.pem "
    "-o out.html": 1,
    "mtls-doctor pki scenarios ./pki --format json": 0,
    "mtls-doctor pki scenarios ./pki --at 2025-01-31T12:00:00Z": 0,
    "mtls-doctor pki issue --ca ./pki/ca/intermediate-ca.pem --out ./short-lived --days 0": 0,
    "mtls-doctor pki issue --ca ./pki/ca/root-ca.pem --out ./future "
    "--not-before 2030-01-01T00:00:00Z": 0,
    "mtls-doctor pki issue --ca ./pki/ca/root-ca.pem --out ./weak --key rsa1024 --eku none": 0,
    "mtls-doctor diagnose ./logs": 1,
}


@pytest.fixture(scope="module")
def workdir(demo_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workdir(demo_out, tmp_path_factory.mktemp("docs") / "work")


def _run_in_shell(command: str, workdir: Path) -> tuple[int, str]:
    bindir = Path(sys.executable).parent
    if not (bindir / "mtls-doctor").exists():
        pytest.skip("no mtls-doctor script next to this Python (not installed in a venv)")
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "CERT_HEADER_VALUE": header_value(workdir),
        "MTLS_DOCTOR_DB": str(workdir / "incident.duckdb"),
    }
    done = subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stderr


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) > 60
    assert sum(skip_reason(e) is None for e in EXAMPLES) > 40


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_exits_as_documented(
    example: Example, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = skip_reason(example)
    if reason is not None:
        pytest.skip(reason)
    assert example.command in EXIT, (
        f"{example.doc}: new example {example.command!r}: list its exit code on the demo data "
        "in EXIT (tests/test_docs.py), or a reason to skip it in tests/docs_examples.py"
    )
    if example.needs_shell:
        code, err = _run_in_shell(example.command, workdir)
    else:
        monkeypatch.chdir(workdir)
        monkeypatch.setenv("MTLS_DOCTOR_DB", str(workdir / "incident.duckdb"))
        result = CliRunner().invoke(cli, shlex.split(example.command)[1:])
        code, err = result.exit_code, result.stderr
    assert code == EXIT[example.command], err
    assert "Traceback" not in err


def test_every_listed_exit_code_has_its_example() -> None:
    """No stale entries: an example taken out of the docs goes out of EXIT too."""
    assert set(EXIT) <= {e.command for e in EXAMPLES}
