"""``policy list`` / ``policy show``: snapshot and --live (moto[server] on 127.0.0.1)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.aws import conftest as aws_fixtures

moto_endpoint = aws_fixtures.moto_endpoint
aws_env = aws_fixtures.aws_env


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_json_has_every_policy_with_sources() -> None:
    code, out, err = run("policy", "list", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["differences"] is None
    assert data["source"].startswith("snapshot")
    by_name = {p["name"]: p for p in data["policies"]}
    assert len(by_name) == 44
    assert by_name["ELBSecurityPolicy-2016-08"]["verified"] is True
    assert by_name["ELBSecurityPolicy-TLS13-1-3-PQ-2025-09"]["protocols_source"] == "moto"
    assert "20 not verified" in err


def test_list_text_is_a_table() -> None:
    code, out, _ = run("policy", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("POLICY") and len(lines) == 45
    assert any("RFC9151" in line and "?" in line for line in lines)


def test_show_text_and_json() -> None:
    code, out, _ = run("policy", "show", "TLS13-1-3-FIPS-2023-04")
    assert code == 0
    assert "TLS_AES_128_GCM_SHA256" in out and "CHACHA" not in out and "FIPS: yes" in out
    code, out, err = run(
        "policy", "show", "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["policy"]["pq"] is True
    assert "not verified" in err


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2012-06", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ("", "NAME is empty"),
        ("\x00\x01\xff junk", "not shown"),
        ("ELBSecurityPolicy-2015-05", "NLB-only"),
    ],
)
def test_unknown_names_are_exit_2_naming_the_nearest(value: str, needle: str) -> None:
    code, out, err = run("policy", "show", value)
    assert code == 2 and out == ""
    assert needle in err and "Traceback" not in err
    assert err.startswith("error: ")


def test_private_key_as_a_name_is_not_echoed() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    code, out, err = run("policy", "show", key)
    assert code == 2 and out == ""
    assert "MIIEvQ" not in err and "Traceback" not in err


def _live(*args: str) -> Any:
    code, out, err = run("policy", *args, "--live", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_live_list_reports_differences_from_the_snapshot(aws_env: str) -> None:
    data = _live("list")
    assert data["source"] == "DescribeSSLPolicies"
    names = {p["name"] for p in data["policies"]}
    assert "ELBSecurityPolicy-2016-08" in names
    assert all(p["verified"] and p["protocols_source"] == "live" for p in data["policies"])
    diffs = {d["name"]: d for d in data["differences"]}
    # moto lists 21 ciphers for Ext1-PQ where we keep the Ext1 twin's 15 (spec §1.4 conflict).
    ext1 = diffs["ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09"]
    assert ext1["kind"] == "changed" and "AES128-SHA" in ext1["ciphers_added"]
    # moto has no FIPS policies at all: they are snapshot-only.
    assert diffs["ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04"]["kind"] == "only_snapshot"
    assert "ELBSecurityPolicy-2016-08" not in diffs


def test_live_show_and_text(aws_env: str) -> None:
    data = _live("show", "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09")
    assert len(data["policy"]["ciphers"]) == 21 and data["differences"][0]["kind"] == "changed"
    code, out, _ = run("policy", "show", "ELBSecurityPolicy-2016-08", "--live")
    assert code == 0 and "AWS and the snapshot agree." in out


def test_live_without_aws_is_exit_4(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, out, err = run("policy", "list", "--live")
    assert code == 4 and out == ""
    assert "DescribeSSLPolicies" in err and "Traceback" not in err
