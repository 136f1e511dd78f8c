"""Diagnose of files in one pass (diagnose/stream.py) against a table of every row.

The one-pass target answers only the questions diagnose asks, with the filters applied
while reading; the table of every row is the plain reading of the same SQL. Both must give
the same diagnosis, line statistics and malformed lines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.errors import LogFormatError
from mtls_doctor.logs import native
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from tests.diagnose.corpus import NOW, SOON_NA, T0, crafted_lines, entry, write_corpus
from tests.diagnose.reference import prepared, reference

AT_NOW = DiagnoseOptions(NOW, 30)
# Every kind of line: the crafted corpus, IPv6 clients, a certificate accepted after its
# NotAfter, a 16-field line, lines the SQL parser must judge (CRLF, trailing spaces) and
# malformed ones.
EXTRA = [
    entry(T0 + timedelta(minutes=80), "2001:db8::7", "Failed:ClientCertUntrusted"),
    entry(T0 + timedelta(minutes=81), "2001:DB8::8", "Success", serial="0b"),
    entry(T0 + timedelta(minutes=82), "2001:db9::1", "Failed:ClientCertUntrusted"),
    entry(T0 + timedelta(minutes=83), "198.51.100.7", "Success", not_after=T0, serial="05"),
    entry(T0 + timedelta(minutes=84), "198.51.100.8", "Failed:ClientCertExpired") + " extra",
    entry(T0 + timedelta(minutes=85), "198.51.100.9", "Failed:ClientCertRevoked") + "  ",
    entry(T0 + timedelta(minutes=86), "198.51.100.10", "Failed:ClientCertUntrusted", port=8443)
    + "\r",
    # Good lines that the compiled scanner declines, for the SQL parser to judge: an IPv4
    # address inside IPv6, a tab.
    entry(T0 + timedelta(minutes=87), "::ffff:192.0.2.99", "Failed:ClientCertUntrusted"),
    entry(
        T0 + timedelta(minutes=88), "192.0.2.98", "Success", not_after=SOON_NA, serial="06"
    ).replace("TLSv1.3", "TLSv1.3\t", 1),
    "this is not a connection log line",
    entry(T0, "198.51.100.1", "Success").replace("TLSv1.3", "TLS v1.3", 1),
    "",
]
FILTERS = [
    Filters(),
    Filters(client=parse_client("198.51.100.0/24")),
    Filters(client=parse_client("2001:db8::/32")),
    Filters(since=T0 + timedelta(minutes=62), until=T0 + timedelta(minutes=84)),
    Filters(status=parse_status("failed")),
    Filters(status=parse_status("ClientCertExpired")),
    Filters(subject="OLD client"),
    Filters(serial="0002"),
    Filters(listener_port=8443),
    Filters(tls_protocol="TLSv1.3", since=T0 + timedelta(minutes=30)),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("logs"), crafted_lines() + EXTRA)


def both_ways(
    inputs: list[str], filters: Filters, options: DiagnoseOptions = AT_NOW
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The diagnosis read by the compiled scanner, and the same by the pure reader; both
    checked against the diagnosis of every row. Returns (compiled, every row)."""
    compiled, stats = prepared(inputs, filters, options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTLS_DOCTOR_PURE", "1")
        pure, _ = prepared(inputs, filters, options)
    assert pure == compiled, "the pure reader's diagnosis is not the compiled scanner's"
    every = reference(inputs, filters, options, stats)
    every["rows"], every["stats"] = compiled["rows"], compiled["stats"]
    return compiled, every


@pytest.fixture
def reader() -> str:
    # Without the compiled reader there is no second path to compare the pure one with.
    if not native.available():
        pytest.skip("the compiled scanner was not built")
    return "compiled"


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: repr(f)[8:60])
def test_one_pass_gives_the_diagnosis_of_every_row(
    corpus: Path, filters: Filters, reader: str
) -> None:
    one_pass, every_row = both_ways([str(corpus)], filters)
    assert one_pass == every_row


@pytest.fixture(scope="module")
def store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mtls_doctor.logs.ingest import ingest_inputs

    db = tmp_path_factory.mktemp("store") / "logs.duckdb"
    ingest_inputs([str(corpus)], db)
    return db


@pytest.mark.parametrize(
    ("filters", "options"),
    [(f, AT_NOW) for f in FILTERS] + [(Filters(), DiagnoseOptions(NOW + timedelta(days=3650)))],
    ids=lambda x: repr(x)[:50],
)
def test_a_store_read_for_one_diagnosis_gives_the_diagnosis_of_every_row(
    store: Path, corpus: Path, filters: Filters, options: DiagnoseOptions
) -> None:
    # The store's rows are counted and grouped once (StoreTarget), and the questions asked
    # of those tables: the answers must be those of every row, and those of the files.
    stored, stats = prepared([], filters, options, db=store)
    every = reference([str(corpus)], filters, options, stats)
    files, _ = prepared([str(corpus)], filters, options)
    for answer in (stored, files):
        answer.pop("rows"), answer.pop("stats")
    assert stored == every
    # The files' lines are numbered as the store numbered them (its errors are the same).
    assert stored == files


def test_the_corpus_has_what_the_comparison_needs(corpus: Path, reader: str) -> None:
    # Without this, the comparison above could pass on a corpus that exercises nothing.
    one_pass, _ = both_ways([str(corpus)], Filters())
    summary = one_pass["summary"]
    assert summary["malformed_lines"] == 2 and one_pass["rows"] == 84 + 9
    assert {e["line"] for e in one_pass["errors"]} == {94, 95}
    assert summary["failed"] == 27 and summary["unknown_code_lines"] == 2  # +Revoked
    kinds = {w["kind"] for w in one_pass["warnings"]}
    assert kinds == {"expiring_soon", "expired_but_accepted"}
    soon = {i["serial"] for i in one_pass["warnings"][0]["items"]}
    assert soon == {"04", "06"}


def test_lines_the_scanner_counts_give_the_diagnosis_of_their_rows(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without filters the scanner counts the plain lines itself (routing.Routing's fold): the
    # lines it counts must weigh as their rows would, at every edge of what it folds.
    horizon = NOW + timedelta(days=30)
    at = T0 + timedelta(seconds=30)
    lines = [
        *crafted_lines(),
        entry(at, "192.0.2.1", "Success") + " new-field",
        entry(at, "192.0.2.2", "-") + " new-field",
        entry(at, "192.0.2.3", "Success", not_after=horizon, serial="0C"),  # on the horizon
        entry(at, "192.0.2.4", "Success", not_after=horizon - timedelta(seconds=1), serial="0D"),
        entry(at, "192.0.2.5", "Success", not_before=None, not_after=None, serial=None),
        entry(datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC), "192.0.2.6", "-"),
        entry(T0 + timedelta(minutes=600, seconds=50), "192.0.2.6", "-"),
    ]
    # Many minutes, out of order, each seen again at other seconds by later scans (of 500
    # lines): their counts are merged.
    lines += [
        entry(T0 + timedelta(minutes=(i * 37) % 400, seconds=i % 60), "192.0.2.7", "-")
        for i in range(1200)
    ]
    path = write_corpus(tmp_path / "a", lines)
    # The same two minutes again, in another file: the first and last instants still hold.
    again = [
        entry(datetime(1969, 12, 31, 23, 59, 50, tzinfo=UTC), "192.0.2.6", "-"),
        entry(T0 + timedelta(minutes=600, seconds=10), "192.0.2.6", "-"),
    ]
    other = write_corpus(tmp_path / "b", again)
    monkeypatch.setattr(native, "MAX_LINES", 500)
    one_pass, every_row = both_ways([str(path), str(other)], Filters())
    assert one_pass == every_row
    soon = {i["serial"] for i in one_pass["warnings"][0]["items"]}
    assert "0D" in soon and "0C" not in soon
    assert one_pass["summary"]["first_seen"].startswith("1969-12-31T23:59:30")
    assert one_pass["summary"]["last_seen"].startswith("2024-04-05T22:00:50")
    assert one_pass["stats"]["extra_field_lines"] == 2


def test_a_selection_with_no_rows(corpus: Path, reader: str) -> None:
    filters = Filters(since=datetime(2030, 1, 1, tzinfo=UTC))
    one_pass, every_row = both_ways([str(corpus)], filters)
    assert one_pass == every_row
    assert one_pass["summary"]["connections"] == 0 and one_pass["rows"] == 93


def test_every_certificate_expiring_in_the_window(corpus: Path, reader: str) -> None:
    # A far horizon: every successful row is a certificate that expires before it.
    options = DiagnoseOptions(NOW + timedelta(days=3650), 30)
    one_pass, every_row = both_ways([str(corpus)], Filters(), options)
    assert one_pass == every_row
    soon = one_pass["warnings"][0]
    assert soon["kind"] == "expiring_soon"
    assert {i["serial"] for i in soon["items"]} == {"04", "06", "0A1B", "0B"}


@pytest.mark.parametrize(
    "window",
    [
        (T0 + timedelta(minutes=30), T0 + timedelta(minutes=70)),
        (T0 + timedelta(minutes=30), None),
        (None, T0 + timedelta(minutes=62)),
    ],
    ids=["since-until", "since", "until"],
)
def test_a_time_window_alone_is_counted_by_the_scanner_as_its_rows_would(
    tmp_path: Path, reader: str, window: tuple[datetime | None, datetime | None]
) -> None:
    # A time window is the one filter the scanner applies itself: lines on its bounds, lines
    # of every kind outside it (extra fields, expiring certificates, failures, declined).
    since, until = window
    edges = [t for t in window if t is not None]
    lines = [*crafted_lines(), *EXTRA]
    for at in edges:
        for second in (-1, 0, 1):
            when = at + timedelta(seconds=second)
            lines += [
                entry(when, "192.0.2.1", "Success"),
                entry(when, "192.0.2.2", "-") + " new-field",
                entry(when, "192.0.2.3", "Success", not_after=NOW + timedelta(days=3)),
                entry(when, "192.0.2.4", "Failed:ClientCertRevoked"),
            ]
    path = write_corpus(tmp_path, lines)
    one_pass, every_row = both_ways([str(path)], Filters(since=since, until=until))
    assert one_pass == every_row
    assert one_pass["stats"]["extra_field_lines"] == 1 + 3 * len(edges)  # every line counts


def test_expiring_certificates_seen_often_and_out_of_order(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Of a scan's expiring lines per client and certificate, the scanner returns only the
    # latest: the last time each client was seen must not change, in a scan or across scans.
    soon = NOW + timedelta(days=10)
    lines = []
    for i in range(900):
        at = T0 + timedelta(minutes=(i * 53) % 900)
        client = f"203.0.113.{i % 7}"
        subject = f"CN=device {i % 3}"  # same client, serial and validity: another subject
        lines.append(entry(at, client, "Success", subject=subject, serial="0E", not_after=soon))
    monkeypatch.setattr(native, "MAX_LINES", 250)
    one_pass, every_row = both_ways([str(write_corpus(tmp_path, lines))], Filters())
    assert one_pass == every_row
    (warning,) = one_pass["warnings"]
    assert {i["subject"] for i in warning["items"]} == {f"CN=device {k}" for k in range(3)}


def test_strict_stops_at_the_first_malformed_line(corpus: Path) -> None:
    scope = Scope.of(Filters(), NOW, 30)
    with (
        pytest.raises(LogFormatError, match=":94"),
        open_target([str(corpus)], db=None, strict=True, scope=scope),
    ):
        pass


def test_a_target_read_for_one_selection_refuses_another(corpus: Path) -> None:
    with open_target([str(corpus)], db=None, scope=Scope.of(Filters(), NOW, 30)) as target:
        diagnose(target, Filters(), AT_NOW)  # the selection it was read for
        with pytest.raises(ValueError, match="another selection"):
            diagnose(target, Filters(listener_port=80), AT_NOW)
        with pytest.raises(ValueError, match="another selection"):
            diagnose(target, Filters(), DiagnoseOptions(NOW, 7))


def test_many_files_in_one_pass(tmp_path: Path, reader: str) -> None:
    paths = []
    for day in range(6):
        lines = crafted_lines()
        at = T0 + timedelta(days=day)
        lines += [entry(at, f"192.0.2.{day}", "Failed:ClientCertUntrusted")] * (day * 500)
        folder = tmp_path / f"d{day}"
        paths.append(str(write_corpus(folder, lines)))
    one_pass, every_row = both_ways(paths, Filters(status=parse_status("failed")))
    assert one_pass == every_row
    assert one_pass["summary"]["failed"] == 6 * 21 + 500 * 15


@pytest.mark.parametrize("filters", [Filters(), Filters(status=parse_status("failed"))])
def test_without_the_compiled_reader_the_same_diagnosis(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, filters: Filters
) -> None:
    # Runs without the compiled scanner too: the pure reader against every row.
    monkeypatch.setenv("MTLS_DOCTOR_PURE", "1")
    scope = Scope.of(filters, NOW, 30)
    with open_target([str(corpus)], db=None, scope=scope) as target:
        assert type(target).__name__ == "PureTarget"
    pure, stats = prepared([str(corpus)], filters, AT_NOW)
    every = reference([str(corpus)], filters, AT_NOW, stats)
    every["rows"], every["stats"] = pure["rows"], pure["stats"]
    assert pure == every and pure["summary"]["malformed_lines"] == 2


@pytest.mark.parametrize("damage", ["truncated gzip", "bytes that are not UTF-8"])
def test_a_damaged_file_counts_as_its_rows_would(
    tmp_path: Path, reader: str, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without filters most lines are only counted by the scanner: up to a gzip fault, those
    # of every scan before it count, as their rows would.
    import gzip

    lines = [*crafted_lines(), *EXTRA[:7]] * 40
    body = ("\n".join(lines) + "\n").encode()
    path = write_corpus(tmp_path, [])
    if damage == "truncated gzip":
        data = gzip.compress(body)
        path.write_bytes(data[: len(data) * 2 // 3])
    else:
        path.write_bytes(gzip.compress(body.replace(b"CN=old client", b"CN=old \xff client", 1)))
    monkeypatch.setattr(native, "MAX_LINES", 300)
    one_pass, every_row = both_ways([str(path)], Filters())
    assert one_pass == every_row
    assert len(one_pass["errors"]) == 1 and one_pass["summary"]["connections"] > 1000


@pytest.mark.parametrize("damage", ["truncated gzip", "bytes that are not UTF-8"])
def test_an_ipv6_block_reads_twice_but_reports_each_fault_once(
    tmp_path: Path, reader: str, damage: str
) -> None:
    import gzip

    v6 = entry(T0 + timedelta(minutes=80), "2001:db8::7", "Failed:ClientCertUntrusted")
    body = ("\n".join([*crafted_lines(), v6]) + "\n").encode()
    path = write_corpus(tmp_path, [])
    if damage == "truncated gzip":
        data = gzip.compress(body)
        path.write_bytes(data[: len(data) - 12])
    else:
        path.write_bytes(gzip.compress(body.replace(b"CN=old client", b"CN=old \xff client", 1)))
    one_pass, every_row = both_ways([str(path)], Filters(client=parse_client("2001:db8::/32")))
    assert one_pass == every_row
    assert len(one_pass["errors"]) == 1
