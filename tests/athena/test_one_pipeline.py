"""#15's done-when: a diagnosis over files (compiled scanner and pure reader), over a store
and on Athena comes from one code path of questions, asked of the same prepared tables. The
four are held to one expected JSON: the engine's questions asked of every row
(tests/diagnose/reference.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mtls_doctor.diagnose.engine import DiagnoseOptions
from mtls_doctor.logs import native
from mtls_doctor.logs.ingest import ingest_inputs
from mtls_doctor.logs.query import Filters, parse_client, parse_status
from tests.athena.test_parity import _athena, write_files
from tests.diagnose.corpus import NOW, T0
from tests.diagnose.reference import prepared, reference

FILTERS = [
    Filters(),
    Filters(since=T0 + timedelta(minutes=30), until=T0 + timedelta(days=1, hours=1)),
    Filters(status=parse_status("failed")),
    Filters(client=parse_client("203.0.113.0/24"), serial="0002"),
    Filters(client=parse_client("2001:db8::/32")),
]


def _plain(answer: dict[str, Any]) -> dict[str, Any]:
    answer.pop("rows", None), answer.pop("stats", None)
    return answer


@pytest.mark.parametrize("filters", FILTERS, ids=range(len(FILTERS)))
def test_every_source_gives_the_one_expected_diagnosis(
    tmp_path: Path,
    corpus: dict[str, list[str]],
    filters: Filters,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not native.available():
        pytest.skip("the compiled scanner was not built")
    options = DiagnoseOptions(NOW)
    paths = write_files(tmp_path, corpus)
    compiled, stats = prepared(paths, filters, options)
    expected = reference(paths, filters, options, stats)
    db = tmp_path / "store.duckdb"
    ingest_inputs(paths, db)
    stored, _ = prepared([], filters, options, db=db)
    athena, _ = _athena(corpus, filters)
    with monkeypatch.context() as patch:
        patch.setenv("MTLS_DOCTOR_PURE", "1")
        pure, _ = prepared(paths, filters, options)
    assert _plain(compiled) == expected
    assert _plain(pure) == expected
    assert _plain(stored) == expected
    # Athena counts malformed lines but cannot show them: its list of them is empty.
    assert athena.pop("errors") == [] and expected.pop("errors")
    assert athena == expected
    assert expected["summary"]["connections"] > 0
