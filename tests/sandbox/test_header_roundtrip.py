"""The sandbox's header encoding and ``header decode`` are inverse functions (property tests)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.headers import decode_client_cert
from mtls_doctor.sandbox.headers import encode_pem, mtls_headers
from tests.pki.pkihelpers import NOW, make_key

# cryptography limits a common name to 64 UTF-8 bytes: 16 characters of up to 4 bytes each.
NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=16
)
SAFE = st.sampled_from(["+=/", "+/", "/", ""])  # AWS's list, AWS's example, stricter encoders


@st.composite
def certificates(draw: st.DrawFn) -> x509.Certificate:
    key = make_key(draw(st.sampled_from(["ec256", "ec384"])), "roundtrip")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, draw(NAMES)),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, draw(NAMES)),
        ]
    )
    start = NOW - timedelta(seconds=draw(st.integers(0, 10**8)))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(draw(st.integers(1, 2**159 - 1)))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(seconds=draw(st.integers(1, 10**9))))
    )
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


CHAINS = st.lists(certificates(), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(CHAINS, SAFE)
def test_passthrough_header_decodes_to_the_chain_sent(
    chain: list[x509.Certificate], safe: str
) -> None:
    [(_, value)] = mtls_headers("passthrough", chain, safe)
    decoded = decode_client_cert(value)
    assert decoded.certificates == tuple(chain)
    assert not decoded.repaired and decoded.warnings == ()


@settings(max_examples=40, deadline=None)
@given(CHAINS, SAFE)
def test_form_decoder_damage_is_undone(chain: list[x509.Certificate], safe: str) -> None:
    value = encode_pem(chain, safe)
    damaged = unquote_plus(value)
    decoded = decode_client_cert(damaged)
    assert decoded.certificates == tuple(chain)
    assert decoded.repaired == (" " in damaged.replace(" CERTIFICATE-----", ""))


@settings(max_examples=40, deadline=None)
@given(CHAINS, SAFE)
def test_verify_header_block_decodes_and_cross_checks_clean(
    chain: list[x509.Certificate], safe: str
) -> None:
    block = "\n".join(f"{n}: {v}" for n, v in mtls_headers("verify", chain, safe))
    decoded = decode_client_cert(block)
    assert decoded.certificates == (chain[0],)
    assert decoded.header_block and decoded.mismatches == ()
