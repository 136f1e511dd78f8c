"""``diagnose --changes`` / ``report --changes``: the change behind a new failure, end to end.

Connection logs are crafted (ClientCertCrlHit appears at 12:20); the CRL versions live in a
versioned moto bucket on loopback; LookupEvents is Stubber-fed (moto has none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from mtls_doctor.aws import session as aws_session
from mtls_doctor.cli import cli
from mtls_doctor.pki.issue import make_crl
from tests.aws import conftest as aws_fixtures
from tests.aws.pkidata import build, serial_hex
from tests.diagnose.corpus import entry, write_corpus
from tests.trail.records import (
    OTHER_LISTENER,
    add_revocations,
    modify_listener,
    record,
    write_trail,
)

moto_endpoint = aws_fixtures.moto_endpoint
aws_env = aws_fixtures.aws_env
s3 = aws_fixtures.s3

T0 = datetime(2024, 4, 5, 12, 0, tzinfo=UTC)
CHANGE = T0 + timedelta(minutes=20)
BUCKET = "pki-artifacts"


def logs(folder: Path, serial: str) -> Path:
    lines = []
    for minute in range(40):
        for n in range(10):
            at = T0 + timedelta(minutes=minute, seconds=5 * n)
            failing = minute >= 20 and n % 2 == 0
            status = "Failed:ClientCertCrlHit" if failing else "Success"
            lines.append(entry(at, f"10.0.0.{n + 1}", status, serial=serial if failing else "0A1B"))
    write_corpus(folder, lines)
    return folder


@pytest.fixture
def incident(s3: Any, tmp_path: Path) -> tuple[Path, Path, str]:
    pki = build(T0)
    serial = serial_hex(pki.revoked)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    crl = make_crl(pki.root, [pki.revoked.cert.serial_number], at=T0)
    body = crl.public_bytes(serialization.Encoding.PEM)
    version = s3.put_object(Bucket=BUCKET, Key="crl.pem", Body=body)["VersionId"]
    trail = tmp_path / "trail"
    write_trail(
        trail,
        [
            modify_listener(CHANGE - timedelta(minutes=10), OTHER_LISTENER, mode="verify"),
            add_revocations(CHANGE - timedelta(minutes=2), BUCKET, "crl.pem", version),
            record("DescribeTrustStores", CHANGE - timedelta(minutes=1), {}, read_only=True),
        ],
        CHANGE + timedelta(minutes=3),
    )
    return logs(tmp_path / "logs", serial), trail, serial


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def crl_hit(result: Any) -> dict[str, Any]:
    groups = {g["code"]: g for g in json.loads(result.stdout)["failures"]}
    return dict(groups["ClientCertCrlHit"]["change"])


def test_diagnose_names_the_crl_that_revoked_the_failing_serials(
    incident: tuple[Path, Path, str],
) -> None:
    folder, trail, serial = incident
    result = run("diagnose", str(folder), "--changes", str(trail), "--format", "json")
    assert result.exit_code == 1, result.stderr
    change = crl_hit(result)
    assert change["causes_complete"] is True
    # The other listener's mode change is left out: it names another load balancer than the
    # one the failing connections came through (the logs' elb).
    assert change["load_balancers"] == ["app/demo/0123456789abcdef"]
    (first,) = change["causes"]
    assert first["event_name"] == "AddTrustStoreRevocations"
    assert first["evidence"] == "revoked-serials" and first["matched_serials"] == [serial]
    assert set(first) == {
        "event_name", "event_time", "actor", "resource_arn", "evidence", "matched_serials",
        "summary", "details",
    }  # fmt: skip
    assert first["details"]["crls"][0]["object"].startswith(f"s3://{BUCKET}/crl.pem?versionId=")
    # No event ties the trust store to app/demo: kept, and said to be so.
    assert first["details"]["scope"].startswith("scope unknown")
    assert "2 ELB write(s) in 3 record(s) of 1 file(s)" in result.stderr
    text = run("diagnose", str(folder), "--changes", str(trail))
    assert "Likely cause [revoked-serials]: AddTrustStoreRevocations added a CRL" in text.stdout
    assert "(+1 more)" not in text.stdout


def test_the_listener_leaves_out_changes_to_other_listeners(
    incident: tuple[Path, Path, str],
) -> None:
    folder, trail, _ = incident
    result = run(
        "diagnose", str(folder), "--changes", str(trail), "--lb", "app/demo/0123456789abcdef",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert [c["event_name"] for c in crl_hit(result)["causes"]] == ["AddTrustStoreRevocations"]


def test_a_short_lookback_finds_nothing_and_says_so(incident: tuple[Path, Path, str]) -> None:
    folder, trail, _ = incident
    result = run("diagnose", str(folder), "--changes", str(trail), "--changes-lookback", "1m")
    assert result.exit_code == 1, result.stderr
    assert "Likely cause: no ELB configuration change found in the look-back" in result.stdout


def test_without_changes_the_json_is_as_before(incident: tuple[Path, Path, str]) -> None:
    folder, _, _ = incident
    result = run("diagnose", str(folder), "--format", "json")
    assert "causes" not in crl_hit(result)
    assert "Likely cause" not in run("diagnose", str(folder)).stdout


def test_a_bad_lookback_is_a_usage_error(incident: tuple[Path, Path, str]) -> None:
    folder, trail, _ = incident
    result = run("diagnose", str(folder), "--changes", str(trail), "--changes-lookback", "soon")
    assert result.exit_code == 2 and "is not a duration" in result.stderr


@pytest.fixture
def denied_trail(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every CloudTrail client the CLI makes is one Stubber-fed client that is refused."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    original = aws_session.new_client
    monkeypatch.setattr(
        aws_session,
        "new_client",
        lambda service, **kw: client if service == "cloudtrail" else original(service, **kw),
    )
    stub.add_client_error("lookup_events", "AccessDeniedException", "not authorized", 400)
    with stub:
        yield stub


def test_denied_lookup_events_lowers_the_evidence_and_the_diagnosis_goes_on(
    incident: tuple[Path, Path, str], denied_trail: Any
) -> None:
    folder, _, _ = incident
    result = run("diagnose", str(folder), "--changes", "cloudtrail", "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert "access denied to cloudtrail:LookupEvents" in result.stderr
    change = crl_hit(result)
    assert change["causes"] == [] and change["causes_complete"] is False
    warnings = json.loads(result.stdout)["warnings"]
    assert any(w["kind"] == "change-source" for w in warnings)


def test_report_shows_the_likely_cause(incident: tuple[Path, Path, str], tmp_path: Path) -> None:
    folder, trail, _ = incident
    out = tmp_path / "r.html"
    result = run("report", str(folder), "--changes", str(trail), "-o", str(out))
    assert result.exit_code == 1, result.stderr
    page = out.read_text()
    assert "Likely cause [revoked-serials]" in page
    assert "Configuration changes before it" in page and "1 revoked serial(s)" in page


def test_the_demo_story_from_the_command_line(demo_out: Path) -> None:
    """Offline: the demo's trail and its kept object versions, through --changes-objects."""
    result = run(
        "diagnose", str(demo_out / "logs"), "--changes", str(demo_out / "cloudtrail"),
        "--changes-objects", str(demo_out / "s3-versions"), "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    groups = {g["code"]: g for g in json.loads(result.stdout)["failures"]}
    assert groups["ClientCertUntrusted"]["change"]["causes"][0]["evidence"] == "ca-removed"
    assert groups["ClientCertCrlHit"]["change"]["causes"][0]["evidence"] == "revoked-serials"
    # Without the kept versions (and no S3 here) the link is only the timing, and says why.
    plain = run(
        "diagnose", str(demo_out / "logs"), "--changes", str(demo_out / "cloudtrail"),
        "--changes-objects", str(demo_out / "pki"), "--format", "json",
    )  # fmt: skip
    crl = {g["code"]: g for g in json.loads(plain.stdout)["failures"]}["ClientCertCrlHit"]
    assert {c["evidence"] for c in crl["change"]["causes"]} == {"timing-only"}
    first = crl["change"]["causes"][0]
    assert any("no such object version" in u["error"] for u in first["details"]["unreadable"])


def test_the_dashboard_shows_the_cause(demo_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve --changes: the code page of the demo's outbreak names the change and its diff."""
    from mtls_doctor.cli import report_cmds
    from mtls_doctor.web import app as web_app
    from tests.web.conftest import Client

    apps: list[Any] = []
    pages: dict[str, str] = {}
    real = web_app.DashboardApp

    def keep(*args: Any, **kwargs: Any) -> Any:
        apps.append(real(*args, **kwargs))
        return apps[-1]

    class _Visit:
        class Event:
            def wait(self) -> None:
                client = Client(apps[0])
                for code in ("ClientCertUntrusted", "ClientCertCrlHit"):
                    pages[code] = client.html(f"/code/Failed:{code}")[1]
                raise KeyboardInterrupt

    monkeypatch.setattr(web_app, "DashboardApp", keep)
    monkeypatch.setattr(report_cmds, "threading", _Visit)
    result = run(
        "serve", "--db", str(demo_out / "connections.duckdb"), "--port", "0",
        "--changes", str(demo_out / "cloudtrail"),
        "--changes-objects", str(demo_out / "s3-versions"),
    )  # fmt: skip
    assert result.exit_code == 130, result.stderr
    assert "Likely cause [ca-removed]" in pages["ClientCertUntrusted"]
    assert "CA removed: CN=mtls-doctor intermediate CA" in pages["ClientCertUntrusted"]
    assert "Likely cause [revoked-serials]" in pages["ClientCertCrlHit"]
    assert "PlatformDeploy" in pages["ClientCertCrlHit"]  # the actor


def test_diagnose_text_names_the_load_balancers_failing_since_the_change(
    incident: tuple[Path, Path, str],
) -> None:
    folder, trail, _ = incident
    result = run("diagnose", str(folder), "--changes", str(trail))
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("ClientCertCrlHit:"))
    block = lines[at : at + 12]
    assert "Failing since then on: app/demo/0123456789abcdef" in block


def test_demo_text_puts_each_cause_under_its_change(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    causes = [n for n, line in enumerate(lines) if line.startswith("Likely cause [")]
    assert len(causes) == 2
    assert all(lines[n - 1].startswith("Change: ") for n in causes)
    tags = {lines[n].split("]")[0] + "]" for n in causes}
    assert tags == {"Likely cause [ca-removed]", "Likely cause [revoked-serials]"}
