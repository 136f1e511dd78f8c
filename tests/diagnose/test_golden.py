"""The text report, compared with a reviewed copy (UPDATE_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import os
from pathlib import Path

from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.logs.query import Filters
from mtls_doctor.report.diagnosis_text import render_markdown, render_text
from tests.diagnose.corpus import NOW, write_corpus

GOLDEN = Path(__file__).parent.parent / "golden"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"differs from {path}; review, then rerun with UPDATE_GOLDEN=1"
    )


def test_text_and_markdown_reports_match_golden(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    with open_target([str(corpus)], db=None, scope=Scope.of(Filters(), NOW, 30)) as target:
        result = diagnose(target, Filters(), DiagnoseOptions(NOW, 30))
    check("diagnose.txt", render_text(result))
    check("diagnose.md", render_markdown(result))
