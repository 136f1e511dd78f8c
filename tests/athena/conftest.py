"""The corpus the Athena parity tests share: two connection-log objects on two days (with
12-, 13-, 15- and 16-field lines, IPv6, a malformed line) and an access-log object."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.diagnose.corpus import T0, crafted_lines, entry

NAME = (
    "conn_log_123456789012_elasticloadbalancing_us-east-1_app.demo.0123456789abcdef_"
    "{end}_10.0.0.5_abc{n}.log.gz"
)
ACCESS = (
    "123456789012_elasticloadbalancing_us-east-1_app.demo.0123456789abcdef_"
    "20240405T1315Z_10.0.0.5_x.log.gz"
)
ACCESS_LINE = (
    "https 2024-04-05T12:00:00.000000Z app/demo/0123456789abcdef 192.0.2.1:4000 10.0.0.1:80 "
    '0.000 0.001 0.000 200 200 34 366 "GET https://example.com:443/ HTTP/1.1" "curl/8" '
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - "Root=1-x" "-" "-" 0 '
    '2024-04-05T12:00:00.000000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_x'
)


def _variants() -> list[str]:
    """12-, 13- and 16-field lines, a malformed line, and a second day of traffic."""
    fifteen = entry(T0 + timedelta(days=1), "203.0.113.7", "Failed:ClientCertUntrusted")
    return [
        fifteen.rsplit(" ", 3)[0],  # the last three fields hold no space
        fifteen.rsplit(" ", 2)[0],
        fifteen + " newfield",
        fifteen,
        entry(T0 + timedelta(days=1, minutes=5), "2001:db8::7", "Failed:ClientCertUntrusted"),
        "2024-04-06T12:00:00.000000Z 203.0.113.9 not-a-port 443 truncated",
        entry(T0 + timedelta(days=1, hours=2), "198.51.100.1", "Success"),
    ]


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    return {
        "2024/04/05/" + NAME.format(end="20240405T1315Z", n=1): crafted_lines(),
        "2024/04/06/" + NAME.format(end="20240406T1405Z", n=2): _variants(),
        "2024/04/05/" + ACCESS: [ACCESS_LINE],
    }
