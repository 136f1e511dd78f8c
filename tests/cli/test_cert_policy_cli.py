"""``cert check --policy``: the inferred ClientCertIncompatible hypotheses through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.pki.pkihelpers import StandardPki, issue, key_pem, write

RFC = "ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07"
AT = "2025-06-01T12:00:00Z"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def files(tmp_path: Path) -> dict[str, Path]:
    pki = StandardPki.build("PolCli")
    rsa = issue("PolCli RSA", pki.intermediate, key_kind="rsa2048")
    return {
        "chain": write(tmp_path / "chain.pem", pki.leaf.pem + pki.intermediate.pem),
        "rsa": write(tmp_path / "rsa.pem", rsa.pem + pki.intermediate.pem),
        "bundle": write(tmp_path / "bundle.pem", pki.root.pem),
        "with_key": write(tmp_path / "key.pem", key_pem(pki.leaf) + pki.leaf.pem),
        "garbage": write(tmp_path / "garbage.pem", b"\x00\x01junk"),
    }


def test_policy_only_json_lists_labelled_hypotheses(tmp_path: Path) -> None:
    f = files(tmp_path)
    code, out, _ = run("cert", "check", str(f["chain"]), "--policy", RFC, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] is None and data["chain"][0]["subject"].endswith("CN=PolCli Client")
    fit = data["policy_fit"]
    assert fit["inferred"] is True and fit["policy"] == RFC
    assert [h["id"] for h in fit["hypotheses"]] == ["rfc9151-key", "rfc9151-signature"]


def test_policy_only_text_says_inferred_and_how_to_confirm(tmp_path: Path) -> None:
    f = files(tmp_path)
    code, out, _ = run("cert", "check", str(f["rsa"]), "--policy", "TLS13-1-3-2021-06")
    assert code == 1
    assert "[inferred]" in out and "confirm:" in out and "rsa_pss_rsae_sha256" in out


def test_compatible_certificate_with_trust_store_is_exit_0(tmp_path: Path) -> None:
    f = files(tmp_path)
    args = ["cert", "check", str(f["chain"]), "--trust-store", str(f["bundle"]), "--at", AT]
    code, out, _ = run(*args, "--policy", "ELBSecurityPolicy-2016-08")
    assert code == 0 and "verdict: Success" in out and "none of our hypotheses" in out
    code, out, _ = run(*args, "--policy", RFC, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "Success" and data["policy_fit"]["hypotheses"]
    code, out, _ = run(*args, "--format", "json")
    assert code == 0 and json.loads(out)["policy_fit"] is None


def test_bad_input(tmp_path: Path) -> None:
    f = files(tmp_path)
    code, out, err = run("cert", "check", str(f["chain"]), "--policy", "ELBSecurityPolicy-TLS13")
    assert code == 2 and out == "" and "nearest" in err and "Traceback" not in err
    code, out, err = run("cert", "check", str(f["chain"]))
    assert code == 2 and "--policy" in err
    code, out, err = run("cert", "check", str(f["garbage"]), "--policy", RFC)
    assert code == 3 and out == "" and "Traceback" not in err
    code, out, err = run("cert", "check", str(f["with_key"]), "--policy", RFC)
    assert code == 1 and "private key" in err and "PRIVATE" not in out + err
    code, out, err = run("cert", "check", str(tmp_path / "empty.pem"), "--policy", RFC)
    assert code == 3 and out == ""
