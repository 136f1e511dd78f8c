"""One numbering for certificates everywhere (#19 item 8): from 0, the leaf or first in a file."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path

from click.testing import CliRunner

from mtls_doctor.cli import cli
from tests.pki.pkihelpers import StandardPki, write


def not_x509_block() -> bytes:
    body = textwrap.fill(base64.b64encode(b"\x30\x03\x02\x01\x05 not X.509").decode(), 64)
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def numbers(text: str) -> set[str]:
    return set(re.findall(r"certificate (\d+) is not valid X\.509", text))


def test_cert_check_names_a_bad_certificate_the_same_way_in_every_message(
    tmp_path: Path,
) -> None:
    pki = StandardPki.build("Numbering")
    chain = write(tmp_path / "chain.pem", not_x509_block() + pki.intermediate.pem)
    bundle = write(tmp_path / "bundle.pem", pki.root.pem)
    result = CliRunner().invoke(
        cli, ["cert", "check", str(chain), "--trust-store", str(bundle), "--format", "json"]
    )
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    invalid = [f for f in findings if f["code"] == "ClientCertInvalid"]
    assert [f["certificate"] for f in invalid] == [0]
    assert numbers(result.stderr) == numbers(invalid[0]["message"]) == {"0"}
    inspect = CliRunner().invoke(cli, ["cert", "inspect", str(chain)])
    assert inspect.exit_code == 3 and numbers(inspect.stderr) == {"0"}
