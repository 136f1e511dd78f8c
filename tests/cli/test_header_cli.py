"""``header decode`` through the CLI: forms, cross-check, verdict, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.cli import cli
from mtls_doctor.sandbox.headers import encode_pem, mtls_headers
from tests.pki.pkihelpers import DAY, NOW, StandardPki, issue, key_pem, make_crl, write

AT = "2025-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def pki() -> StandardPki:
    # ECDSA signatures are random: rebuild until the chain's base64 holds a '+' to damage.
    for _ in range(100):
        built = StandardPki.build("HdrCli")
        if "+" in (built.leaf.pem + built.intermediate.pem).decode():
            return built
    raise AssertionError("no chain with a '+' in 100 tries")


@pytest.fixture(scope="module")
def raw(pki: StandardPki) -> str:
    return encode_pem([pki.leaf.cert, pki.intermediate.cert], "+=/")


def run(*args: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_raw_value_as_argument_json(raw: str) -> None:
    code, out, err = run("header", "decode", raw, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["repaired"] is False
    assert data["verdict"] is None and data["warnings"] == []
    assert [c["subject"].split("CN=")[1] for c in data["certificates"]] == [
        "HdrCli Client",
        "HdrCli Intermediate CA",
    ]


def test_damaged_value_from_stdin_is_repaired_with_a_note(raw: str) -> None:
    code, out, err = run("header", "decode", "-", "--format", "json", stdin=unquote_plus(raw))
    assert code == 0
    assert json.loads(out)["repaired"] is True
    assert "repaired" in err and "unquote_plus" in err


def test_decoded_pem_starting_with_dashes_is_a_value_not_an_option(pki: StandardPki) -> None:
    code, out, _ = run("header", "decode", pki.leaf.pem.decode())
    assert code == 0 and "HdrCli Client" in out and "1 certificate(s)" in out


def test_header_lines_mismatch_is_exit_1(pki: StandardPki) -> None:
    lines = [f"{n}: {v}" for n, v in mtls_headers("verify", [pki.leaf.cert], "+=/")]
    good = "\n".join(lines)
    code, out, _ = run("header", "decode", "-", stdin=good)
    assert code == 0 and "match the certificate" in out
    bad = good.replace("CN=HdrCli Client", "CN=Mallory")
    code, out, err = run("header", "decode", "-", "--format", "json", stdin=bad)
    assert code == 1
    data = json.loads(out)
    assert data["mismatches"][0]["header"] == "X-Amzn-Mtls-Clientcert-Subject"
    assert "rewrote" in err


def test_trust_store_gives_the_verdict(pki: StandardPki, raw: str, tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle.pem", pki.root.pem)
    code, out, _ = run("header", "decode", raw, "--trust-store", str(bundle), "--at", AT)
    assert code == 0 and "verdict: Success" in out
    revoked = make_crl(pki.intermediate, [pki.leaf.cert.serial_number])
    crl = write(tmp_path / "crl.pem", revoked.public_bytes(Encoding.PEM))
    both = write(tmp_path / "both.pem", pki.root.pem + pki.intermediate.pem)
    args = ["--trust-store", str(both), "--crl", str(crl), "--at", AT, "--format", "json"]
    code, out, _ = run("header", "decode", raw, *args)
    assert code == 1
    assert json.loads(out)["verdict"]["verdict"] == "ClientCertCrlHit"
    expired = issue("HdrCli Old", pki.intermediate, not_after=NOW - DAY)
    old = encode_pem([expired.cert, pki.intermediate.cert], "+=/")
    code, out, _ = run("header", "decode", old, "--trust-store", str(bundle), "--format", "json")
    assert code == 1 and json.loads(out)["verdict"]["verdict"] == "ClientCertExpired"


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        ("", "empty value"),
        (b"\x00\x01\x02\xff\xfe", "binary data"),
        ("this is not a certificate", "no certificate found"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not valid"),
    ],
)
def test_bad_input_is_exit_3_one_line(stdin: str | bytes, needle: str) -> None:
    code, out, err = run("header", "decode", "-", stdin=stdin)
    assert code == 3 and out == ""
    assert needle in err.splitlines()[0] and "Traceback" not in err


def test_empty_argument_is_exit_2() -> None:
    """An empty value typed on the command line is a usage error, as for every command."""
    code, out, err = run("header", "decode", "")
    assert code == 2 and out == "" and "is empty" in err


def test_private_key_is_refused_and_not_echoed(pki: StandardPki) -> None:
    secret = key_pem(pki.leaf).decode()
    for args, stdin in (
        (["header", "decode", secret], None),
        (["header", "decode", "-"], secret + pki.leaf.pem.decode()),
    ):
        code, out, err = run(*args, stdin=stdin)
        assert code == 3 and out == ""
        assert "private key" in err and secret.splitlines()[1] not in err
        assert "Traceback" not in err


def test_usage_errors_are_exit_2(raw: str, tmp_path: Path) -> None:
    code, _, err = run("header", "decode", raw, "--crl", str(tmp_path / "x.pem"))
    assert code == 2 and "--trust-store" in err
    code, _, err = run("header", "decode", raw, "--formt", "json")
    assert code == 2 and "Traceback" not in err


def test_missing_trust_store_file_is_exit_3(raw: str, tmp_path: Path) -> None:
    code, out, err = run("header", "decode", raw, "--trust-store", str(tmp_path / "nope.pem"))
    assert code == 3 and out == "" and "nope.pem" in err
