"""mtls_doctor.headers: every form a backend may receive the certificate header in."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.headers import (
    LEAF_HEADER,
    PASSTHROUGH_HEADER,
    SUBJECT_HEADER,
    HeaderDecodeError,
    PrivateKeyRefused,
    decode_client_cert,
)
from mtls_doctor.sandbox.headers import encode_pem, mtls_headers
from tests.pki.pkihelpers import StandardPki, issue, key_pem

Chain = list[x509.Certificate]


@pytest.fixture(scope="module")
def pki() -> StandardPki:
    # ECDSA signatures are random: rebuild until the leaf's base64 holds a '+' to damage.
    for _ in range(100):
        built = StandardPki.build("Hdr", serial=0x03A5B1)
        if "+" in built.leaf.pem.decode():
            return built
    raise AssertionError("no leaf with a '+' in 100 tries")


@pytest.fixture(scope="module")
def chain(pki: StandardPki) -> Chain:
    return [pki.leaf.cert, pki.intermediate.cert]


def pem(certs: Chain) -> str:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs).decode()


def test_raw_url_encoded_chain_is_read_leaf_first(chain: Chain) -> None:
    decoded = decode_client_cert(encode_pem(chain, "+=/"))
    assert decoded.certificates == tuple(chain)
    assert decoded.form == "url-encoded" and not decoded.repaired and not decoded.warnings
    data = decoded.to_dict()
    assert data["schema_version"] == 1 and data["repaired"] is False
    leaf = data["certificates"][0]
    assert leaf["serial_number"] == "03A5B1" and leaf["subject"].endswith("CN=Hdr Client")
    assert leaf["not_before"].endswith("Z") and leaf["signed_by"] == 1


def test_aws_example_escaping_of_equals_is_accepted(chain: Chain) -> None:
    # AWS's own example escapes '=' as %3D although it calls '=' safe (spec §4.2).
    assert decode_client_cert(encode_pem(chain, "+/")).certificates == tuple(chain)
    assert decode_client_cert(quote(pem(chain), safe="")).certificates == tuple(chain)


def test_already_decoded_pem_and_bytes(chain: Chain) -> None:
    text = pem(chain)
    decoded = decode_client_cert(text)
    assert decoded.form == "decoded" and decoded.certificates == tuple(chain)
    assert decode_client_cert(text.encode()).certificates == tuple(chain)
    assert decode_client_cert(text.replace("\n", "\r\n")).certificates == tuple(chain)


def test_form_decoder_damage_is_repaired(chain: Chain) -> None:
    raw = encode_pem(chain, "+=/")
    assert "+" in raw, "the fixture must contain a '+' to damage"
    damaged = unquote_plus(raw)
    assert " " in damaged.split("-----")[2]
    decoded = decode_client_cert(damaged)
    assert decoded.repaired and decoded.certificates == tuple(chain)
    assert "unquote_plus" in decoded.warnings[0]
    # Damage that happened before URL-decoding (a proxy) is repaired too.
    assert decode_client_cert(raw.replace("+", " ")).repaired


def test_json_escaped_and_quoted_values(chain: Chain) -> None:
    escaped = '"' + pem(chain).replace("\n", "\\n") + '"'
    decoded = decode_client_cert(escaped)
    assert decoded.certificates == tuple(chain) and "JSON" in decoded.warnings[0]


def block(chain: Chain, **replace: str) -> str:
    lines = []
    for name, value in [("Host", "api.example.com"), *mtls_headers("verify", chain, "+=/")]:
        lines.append(f"{name}: {replace.get(name, value)}")
    return "\n".join(lines)


def test_pasted_verify_headers_match(chain: Chain) -> None:
    decoded = decode_client_cert(block(chain))
    assert decoded.header_block and decoded.mismatches == ()
    assert decoded.certificates == (chain[0],)
    assert {n for n, _ in decoded.headers} >= {SUBJECT_HEADER}


def test_rewritten_headers_are_reported(chain: Chain) -> None:
    text = block(
        chain,
        **{
            SUBJECT_HEADER: "CN=someone else",
            "X-Amzn-Mtls-Clientcert-Serial-Number": "0003A5B2",
            "X-Amzn-Mtls-Clientcert-Validity": "NotBefore=2020-01-01T00:00:00Z;"
            "NotAfter=2030-01-01T00:00:00Z",
        },
    )
    decoded = decode_client_cert(text)
    assert {m.header for m in decoded.mismatches} == {
        SUBJECT_HEADER,
        "X-Amzn-Mtls-Clientcert-Serial-Number",
        "X-Amzn-Mtls-Clientcert-Validity",
    }
    assert any("rewrote" in w for w in decoded.warnings)


def test_serial_with_leading_zeros_and_dn_spacing_still_match(chain: Chain) -> None:
    subject = chain[0].subject.rfc4514_string().replace(",", ", ")
    text = block(
        chain,
        **{"X-Amzn-Mtls-Clientcert-Serial-Number": "0003a5b1", SUBJECT_HEADER: subject},
    )
    assert decode_client_cert(text).mismatches == ()


def test_passthrough_and_leaf_headers_disagreeing(pki: StandardPki, chain: Chain) -> None:
    other = issue("Other Client", pki.intermediate)
    text = (
        f"{PASSTHROUGH_HEADER}: {encode_pem(chain, '+=/')}\n"
        f"{LEAF_HEADER}: {encode_pem([other.cert], '+=/')}"
    )
    decoded = decode_client_cert(text)
    assert len(decoded.certificates) == 2
    assert [m.header for m in decoded.mismatches] == [LEAF_HEADER]


def test_renamed_header_and_multiline_pem_under_a_name(chain: Chain) -> None:
    decoded = decode_client_cert(f"X-Client-Cert: {encode_pem(chain, '+=/')}")
    assert decoded.certificates == tuple(chain) and "renamed" in decoded.warnings[0]
    multiline = f"{PASSTHROUGH_HEADER}: " + pem(chain)
    assert decode_client_cert(multiline).certificates == tuple(chain)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "empty value"),
        ("   \n ", "empty value"),
        (b"\xff\xfe\x00binary", "binary data"),
        ("abc\x00def", "binary data"),
        ("hello world", "no certificate found"),
        ("-----BEGIN%20CERTIFICATE-----%0AMIIB", "no complete"),
        ("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----", "not valid"),
        ("Host: example.com\nAccept: */*", "hold no certificate"),
        ("%ff%fe", "not UTF-8"),
    ],
)
def test_garbage_is_one_line(value: str | bytes, needle: str) -> None:
    with pytest.raises(HeaderDecodeError) as caught:
        decode_client_cert(value)
    assert needle in caught.value.message and "\n" not in caught.value.message
    assert int(caught.value.exit_code) == 3


def test_truncated_chain_is_refused(chain: Chain) -> None:
    text = pem(chain)
    cut = text[: text.index("-----END CERTIFICATE-----") - 30] + "\n-----END CERTIFICATE-----\n"
    with pytest.raises(HeaderDecodeError, match="certificate 0"):
        decode_client_cert(cut)


@pytest.mark.parametrize(
    "encode", [str, lambda t: quote(t, safe="+=/"), lambda t: quote(t, safe="")]
)
def test_a_private_key_is_refused_and_never_repeated(pki: StandardPki, encode: object) -> None:
    secret = key_pem(pki.leaf).decode()
    value = encode(secret + pki.leaf.pem.decode())  # type: ignore[operator]
    with pytest.raises(PrivateKeyRefused) as caught:
        decode_client_cert(value)
    body = secret.splitlines()[1]
    assert body not in caught.value.message and body not in (caught.value.hint or "")
    assert unquote(body)[:20] not in str(caught.value)


def test_importing_needs_neither_duckdb_nor_boto3() -> None:
    code = (
        "import mtls_doctor.headers, sys; "
        "assert 'duckdb' not in sys.modules and 'boto3' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', 'boto3'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _docs_middleware() -> Any:
    text = (Path(__file__).parents[2] / "docs" / "headers.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 16
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/headers.md", "exec"), scope)
    return scope["client_cert_middleware"]


def test_the_docs_middleware_serves_the_chain(chain: Chain) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        names = [c.subject.rfc4514_string() for c in environ["mtls.chain"]]
        return ["|".join(names).encode()]

    server = make_server("127.0.0.1", 0, _docs_middleware()(app), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]

        def get(value: str | None) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            headers = {PASSTHROUGH_HEADER: value} if value is not None else {}
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
            conn.close()
            return response.status, body

        raw = encode_pem(chain, "+=/")
        status, body = get(raw)
        assert status == 200 and body.split("|")[0].endswith("CN=Hdr Client")
        assert len(body.split("|")) == 2
        assert get(unquote_plus(raw).replace("\n", "%0A"))[0] == 200  # a proxy's damage
        assert get("not a certificate") == (400, "unreadable client certificate\n")
        assert get(None) == (200, "")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass
