"""Properties: any line gives a record or a reported error, never an exception."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.errors import MtlsDoctorError
from mtls_doctor.logs.api import open_selection
from mtls_doctor.logs.query import Filters
from tests.logs.corpus import AWS_FAILED, line

FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

# Text that looks like log lines: field-ish tokens, quotes, control chars, any unicode.
token = st.one_of(
    st.sampled_from(
        ['"', '"-"', "-", "Success", "Failed:X", "\x01", "\x00", "\r", "\t", "é", "  "]
    ),
    st.text(max_size=12),
)
fuzzy_line = st.one_of(
    st.lists(token, max_size=20).map(" ".join),
    st.builds(lambda s: line(subject=s), st.text(max_size=30)),
    st.builds(lambda t: AWS_FAILED[: len(AWS_FAILED) * t // 100], st.integers(0, 100)),
)


def _read(path: Path) -> tuple[int, int, int]:
    with open_selection([str(path)]) as sel:
        rows = list(sel.iter_rows(Filters()))
        stats = sel.stats
    assert all(r["error"] is None for r in rows)
    return len(rows), stats.malformed, len(stats.issues)


@FAST
@given(st.lists(fuzzy_line, min_size=1, max_size=8))
def test_any_text_line_is_a_record_or_a_reported_error(tmp_path_factory, lines):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("p") / "conn_log_x.log"
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    rows, malformed, issues = _read(path)
    # Every non-blank DuckDB line is accounted for, and each malformed one is listed.
    assert issues == malformed
    assert rows + malformed >= sum(1 for x in text.replace("\r", "\n").split("\n") if x.strip())


@FAST
@given(st.binary(max_size=600), st.booleans())
def test_any_bytes_file_never_raises_unexpectedly(tmp_path_factory, data, as_gz):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("b") / "conn_log_y.log.gz"
    if as_gz:
        full = gzip.compress(data + b"\n" + line().encode())
        data = full[: max(10, len(full) * 2 // 3)]
    path.write_bytes(data)
    with contextlib.suppress(MtlsDoctorError):  # a documented error is fine; nothing else
        _read(path)


@FAST
@given(
    st.text(
        alphabet=st.characters(blacklist_characters='"\n\r\x01 ', blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    )
)
def test_any_quoted_subject_round_trips(tmp_path_factory, subject):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("s") / "conn_log_z.log"
    path.write_text(line(subject=f'"{subject} x"') + "\n", encoding="utf-8")
    with open_selection([str(path)]) as sel:
        (row,) = list(sel.iter_rows(Filters()))
    assert row["leaf_client_cert_subject"] == f"{subject} x"
