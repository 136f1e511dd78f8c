"""Every query parameter and path value, fuzzed: 200 or 400 with a message, never a 500."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.web.params import FILTER_KEYS
from tests.web.conftest import Client, make_app

NUMBERS = {"listener_port": (0, 65535), "page": (1, 10**9), "per_page": (1, 500)}
OTHERS = [k for k in (*FILTER_KEYS, "sort", "order") if k not in NUMBERS]
# Values near the edges: Unicode digits and signs, huge and long numbers, blanks, separators.
ODD = st.sampled_from(
    ["²", "¹", "٣", "１", "+1", "-1", "1_000", "0x1F", "1e3", " 7 ", "0", "00", "9" * 5000,
     "0" * 5000 + "2", "65535", "65536", "500", "501", "1000000000", "1000000001", "\x00",
     "%", "&", "=", "[", "'", '"', "\\", "\n", "∞", "NaN"]
)  # fmt: skip
VALUES = st.one_of(
    ODD,
    st.text(max_size=30),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.text(alphabet="0123456789²³¹٠١٢٣۴߀०௧๓໒༣၄៥᠖１", min_size=1, max_size=12),
)


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def app(store_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(make_app(store_db, tmp_path_factory.mktemp("fuzz")))


def expected_number(value: str, low: int, high: int) -> bool:
    """The rule, stated independently: ASCII digits whose value lies in range."""
    text = value.strip()
    if not re.fullmatch("[0-9]+", text, flags=re.ASCII):
        return False
    significant = text.lstrip("0") or "0"
    return len(significant) <= 12 and low <= int(significant) <= high


def ask(app: Client, url: str) -> tuple[int, bytes]:
    status, headers, body = app.get(url)
    assert status in (200, 400), (url, status, body[:300])
    if status == 400:
        assert headers["Content-Type"] == "application/json" and b'"error"' in body
    return status, body


@fuzz(150)
@given(name=st.sampled_from(sorted(NUMBERS)), value=VALUES)
def test_numbers_parse_only_ascii_digits_in_range(app: Client, name: str, value: str) -> None:
    status, _ = ask(app, f"/api/connections?per_page=1&{name}={quote(value, safe='')}")
    if not value.strip():
        assert status == 200  # blank is absent
    else:
        assert (status == 200) is expected_number(value, *NUMBERS[name]), value


@fuzz(120)
@given(name=st.sampled_from(OTHERS), value=VALUES)
def test_other_parameters_never_fail_the_server(app: Client, name: str, value: str) -> None:
    ask(app, f"/api/connections?per_page=1&{name}={quote(value, safe='')}")


@fuzz(60)
@given(page=st.sampled_from(["client", "cert", "code"]), value=VALUES.filter(lambda v: v != ""))
def test_path_values_never_fail_the_server(app: Client, page: str, value: str) -> None:
    # A WSGI server hands PATH_INFO over as the URL's bytes read as Latin-1.
    status, _, body = app.get(f"/api/{page}/" + value.encode().decode("latin-1"))
    assert status in (200, 400, 404), (value, status, body[:300])


@fuzz(40)
@given(raw=st.binary(max_size=40))
def test_any_query_string_bytes(app: Client, raw: bytes) -> None:
    ask(app, "/api/connections?per_page=1&" + "".join(f"%{b:02X}" for b in raw))
