"""The HTML report renders the Diagnosis as it is, inline and escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.model import Diagnosis
from mtls_doctor.diagnose.overview import Overview, overview
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.knowledge.catalogue import get_entry
from mtls_doctor.logs.query import Filters, parse_client
from mtls_doctor.report.html import render_html
from tests.web.logdata import NOW, SOON_SERIAL, make_store


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("report"))


def _render(db: Path, filters: Filters = Filters()) -> tuple[Diagnosis, str]:
    with open_target([], db=db, scope=Scope.of(filters, NOW)) as target:
        d = diagnose(target, filters, DiagnoseOptions(NOW))
        return d, render_html(d, overview(target))


def test_report_shows_headline_timeline_codes_and_fixes(db: Path) -> None:
    d, page = _render(db)
    assert ">500</div>" in page and ">80</div>" in page and "16.0%" in page
    rects = re.findall(r'<rect [^>]*data-code="([^"]+)"', page)
    assert set(rects) == {"ClientCertUntrusted", "ClientCertExpired"}
    for group in d.failures:
        assert f'id="code-{group.code}"' in page
        assert get_entry(group.code).fix_summary.split(".")[0].replace("'", "&#x27;") in page
    assert "first appeared" in page  # the change diagnose found
    assert SOON_SERIAL in page and 'id="expiring"' in page


def test_report_is_self_contained(db: Path) -> None:
    _, page = _render(db)
    assert "<script" not in page  # the report needs no script at all
    assert not re.search(r"<(link|img|iframe|object)\b", page)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page  # and the browser is told to fetch nothing
    assert "@media print" in page


def test_numbers_come_from_the_diagnosis_not_the_template(db: Path) -> None:
    d, _ = _render(db)
    summary = replace(d.summary, connections=123456)
    page = render_html(replace(d, summary=summary), Overview((), ()))
    assert '>123456</div><div class="label">connections<' in page


def test_selection_without_failures(db: Path) -> None:
    _, page = _render(db, Filters(client=parse_client("198.51.100.17")))
    assert "No failed mTLS connections in this selection." in page
    assert "<rect" not in page and '<section class="code-section"' not in page


def test_values_are_escaped(db: Path) -> None:
    d, _ = _render(db)
    group = replace(d.failures[0], top_clients=({"client_ip": "<img src=x>", "count": 1,
                                                 "last_seen": None},))  # fmt: skip
    page = render_html(replace(d, failures=(group,)), Overview((), ()))
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page


def test_trust_section_only_with_findings(db: Path) -> None:
    d, page = _render(db)
    assert 'id="trust"' not in page
    finding = {"serial": "A0", "revocations": []}
    group = replace(d.failures[0], correlation=(finding,))
    page = render_html(replace(d, failures=(group,)), Overview((), ()))
    assert 'id="trust"' in page and "not in the CRLs given" in page
