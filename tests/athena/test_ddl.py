"""The table DDL: its columns, its projection, and its regex read with Java's semantics.

Hive's RegexSerDe runs ``java.util.regex.Matcher.matches()``. Python's ``re.fullmatch`` agrees
with it for literal characters, bracket classes with ranges and negation, greedy ``*``/``+``/
``?``/``{m,n}``, alternation, capturing and ``(?:...)`` groups. It does *not* agree on, among
others: ``\\d``/``\\w``/``\\s`` (Unicode in Python, ASCII in Java), named groups (``(?P<n>)``
vs ``(?<n>)``), possessive quantifiers and atomic groups (new in Python 3.11), ``$``/``\\Z``
and inline flags. :func:`test_regex_uses_only_constructs_java_reads_the_same` walks the parsed
regex and fails on anything outside the agreed set, so a match result in these tests is
also what Athena would get.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from mtls_doctor.athena import ddl
from mtls_doctor.errors import InputError
from mtls_doctor.knowledge.fields import FIELD_NAMES
from tests.athena.fakeathena import regex_from_ddl
from tests.diagnose.corpus import T0, entry

try:  # Python 3.11+: the parser moved
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

SPEC = ddl.TableSpec(
    "s3://logs-bucket/pre/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
    projection_start=date(2024, 2, 1),
)
DDL = ddl.create_table_sql(SPEC)
REGEX = re.compile(regex_from_ddl(DDL))
FIFTEEN = entry(T0, "203.0.113.7", "Failed:ClientCertUntrusted")

_ALLOWED = {
    sre_constants.LITERAL,
    sre_constants.NOT_LITERAL,
    sre_constants.IN,
    sre_constants.RANGE,
    sre_constants.NEGATE,
    sre_constants.MAX_REPEAT,
    sre_constants.SUBPATTERN,
    sre_constants.BRANCH,
    sre_constants.ANY,
}


def _walk(items: Any) -> list[Any]:
    ops = []
    for op, arg in items:
        ops.append(op)
        if op == sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = arg
            assert not add_flags and not del_flags, "inline flags differ in Java"
            ops += _walk(sub)
        elif op == sre_constants.MAX_REPEAT:
            ops += _walk(arg[2])
        elif op == sre_constants.BRANCH:
            for branch in arg[1]:
                ops += _walk(branch)
        elif op == sre_constants.IN:
            ops += [o for o, _ in arg]
    return ops


def test_regex_uses_only_constructs_java_reads_the_same() -> None:
    ops = set(_walk(sre_parse.parse(REGEX.pattern)))
    assert ops <= _ALLOWED, ops - _ALLOWED
    # Near miss: the checker does catch a construct Java reads differently.
    bad = set(_walk(sre_parse.parse(r"(\d+) (?P<x>a)++")))
    assert not bad <= _ALLOWED


def test_one_group_per_column() -> None:
    assert REGEX.groups == len(ddl.columns()) == len(FIELD_NAMES) + 1


def _fields(line: str) -> dict[str, str | None]:
    match = REGEX.fullmatch(line)
    assert match is not None, line
    return dict(zip([n for n, _ in ddl.columns()], match.groups(), strict=True))


@pytest.mark.parametrize(
    ("line", "count"),
    [
        (FIFTEEN.rsplit(" ", 3)[0], 12),
        (FIFTEEN.rsplit(" ", 2)[0], 13),
        (FIFTEEN, 15),
        (FIFTEEN + " future-field", 16),
    ],
)
def test_reads_12_13_15_and_16_field_lines(line: str, count: int) -> None:
    got = _fields(line)
    assert got["time"] == "2024-04-05T12:00:00.000000Z"
    assert got["leaf_client_cert_subject"] == "CN=good client,O=Example Corp,C=US"
    assert got["tls_verify_status"] == "Failed:ClientCertUntrusted"
    assert got["tls_keyexchange"] == ("x25519" if count >= 13 else None)
    assert got["ip_address"] == ("10.0.0.5" if count >= 15 else None)
    assert got["extra_fields"] == (" future-field" if count == 16 else None)


def test_reads_the_aws_example_line() -> None:
    line = (
        "2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 - "
        '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
        "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 "
        "Failed:ClientCertUntrusted TID_1c71a68d70587445ad5127ff8b2687d7"
    )
    got = _fields(line)
    assert got["tls_handshake_latency"] == "-" and got["conn_trace_id"].startswith("TID_")


ACCESS_LOG = (
    "https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 "
    '10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" '
    '"curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:x" 1 '
    '2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1'
)


@pytest.mark.parametrize(
    "line",
    [
        ACCESS_LOG,
        FIFTEEN.rsplit(" ", 4)[0],  # 11 fields
        FIFTEEN.replace('"CN=good client,O=Example Corp,C=US"', "CN=unquoted"),
        FIFTEEN.replace(" 443 ", " https "),
        FIFTEEN.replace(" 443 ", "  443 "),
    ],
    ids=["access-log", "11-fields", "unquoted-subject", "port-not-number", "double-space"],
)
def test_rejects_access_log_and_broken_lines(line: str) -> None:
    assert REGEX.fullmatch(line) is None


def test_projection_and_location() -> None:
    assert "'projection.day.range' = '2024/02/01,NOW'" in DDL
    assert "'projection.day.format' = 'yyyy/MM/dd'" in DDL
    assert f"'storage.location.template' = '{SPEC.base}${{day}}'" in DDL
    assert "PARTITIONED BY (`day` string)" in DDL
    for name, kind in ddl.columns():
        assert f"`{name}` {kind}" in DDL


@pytest.mark.parametrize(
    "location",
    [
        "s3://b/AWSLogs/123/elasticloadbalancing/eu-west-1/",  # short account id
        "s3://bucket/AWSLogs/123456789012/",  # no region folder
        "https://bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
        "s3://bucket/x'/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/",
    ],
)
def test_bad_locations_and_names_are_refused(location: str) -> None:
    with pytest.raises(InputError):
        ddl.TableSpec(location)
    with pytest.raises(InputError):
        ddl.TableSpec(SPEC.location, table="drop table;")
