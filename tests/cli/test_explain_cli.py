"""``mtls-doctor explain``: exit codes, formats, stdout/stderr split."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mtls_doctor.cli import cli
from mtls_doctor.knowledge.codes import DOCUMENTED_CODES


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_explain_prints_the_entry_as_text() -> None:
    code, out, err = run("ClientCertExpired")
    assert code == 0
    assert out.startswith("ClientCertExpired: Client certificate has expired\n")
    assert "mtls-doctor cert check CHAIN.pem" in out
    assert err == ""


@pytest.mark.parametrize("given", ["Failed:clientcertexpired", "CLIENTCERTEXPIRED"])
def test_explain_accepts_prefix_and_any_case(given: str) -> None:
    code, out, _ = run(given, "--format", "json")
    assert code == 0
    assert json.loads(out)["key"] == "ClientCertExpired"


@pytest.mark.parametrize(("given", "key"), [("success", "Success"), ("-", "-")])
def test_explain_special_values(given: str, key: str) -> None:
    code, out, _ = run(given, "--format", "json")
    assert (code, json.loads(out)["key"]) == (0, key)


@pytest.mark.parametrize("given", DOCUMENTED_CODES)
def test_every_documented_code_explains_as_itself(given: str) -> None:
    code, out, _ = run(given, "--format", "json")
    data = json.loads(out)
    assert (code, data["key"], data["documented"]) == (0, given, True)


def test_unknown_code_still_prints_an_entry_with_exit_zero() -> None:
    code, out, err = run("Failed:TcpError", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert (data["key"], data["given_code"], data["documented"]) == ("unknown", "TcpError", False)
    assert data["near_matches"][0]["source"] == "CloudFront connection logs"
    assert "not a documented ALB status" in err


def test_unknown_code_text_names_near_matches() -> None:
    code, out, _ = run("ClientCertExpird")
    assert code == 0
    assert "not one of the 13 documented ALB reason codes" in out
    assert "ClientCertExpired (ALB): similar spelling" in out


def test_markdown_format_is_ready_for_a_ticket() -> None:
    code, out, _ = run("ClientCertUntrusted", "--format", "markdown")
    assert code == 0
    assert out.startswith("## `Failed:ClientCertUntrusted`")
    assert "```sh" in out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_list_prints_every_entry(fmt: str) -> None:
    code, out, err = run("--list", "--format", fmt)
    assert code == 0 and err == ""
    for documented in DOCUMENTED_CODES:
        assert documented in out


def test_list_json_shape() -> None:
    _, out, _ = run("--list", "--format", "json")
    body = json.loads(out)
    assert body["schema_version"] == 1
    assert [e["key"] for e in body["entries"]][-3:] == ["Success", "-", "unknown"]


def test_missing_code_is_a_usage_error() -> None:
    code, out, err = run()
    assert (code, out) == (2, "")
    assert "missing CODE" in err


def test_code_and_list_together_is_a_usage_error() -> None:
    code, _, err = run("ClientCertExpired", "--list")
    assert code == 2
    assert "not both" in err


def test_unknown_format_is_a_usage_error() -> None:
    code, _, err = run("ClientCertExpired", "--format", "yaml")
    assert code == 2
    assert "yaml" in err


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["explain", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "mtls-doctor explain --list --format json" in result.stdout
