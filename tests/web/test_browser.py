"""The report file and the dashboard in a real headless chromium (Debian's package)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from mtls_doctor.diagnose.engine import DiagnoseOptions, diagnose
from mtls_doctor.diagnose.overview import overview
from mtls_doctor.diagnose.target import Scope, open_target
from mtls_doctor.logs.query import Filters
from mtls_doctor.report.html import render_html
from mtls_doctor.web.server import Dashboard
from tests.web.conftest import make_app
from tests.web.logdata import NOW

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium"),
]
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


class Watched:
    """A page that records console errors and every request it makes."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.urls.append(r.url))

    def assert_local(self) -> None:
        assert not self.errors
        for url in self.urls:
            parsed = urlparse(url)
            assert parsed.scheme == "file" or parsed.hostname == "127.0.0.1", url


def test_report_file_renders_offline(browser: Any, store_db: Path, tmp_path: Path) -> None:
    with open_target([], db=store_db, scope=Scope.of(Filters(), NOW)) as target:
        d = diagnose(target, Filters(), DiagnoseOptions(NOW))
        html = render_html(d, overview(target))
    report = tmp_path / "report.html"
    report.write_text(html)
    w = Watched(browser)
    w.page.goto(report.as_uri())
    assert w.page.locator("svg.timeline rect").count() > 10
    assert w.page.locator("svg.bars").count() == 1
    assert w.page.locator("section.code-section").count() == 2
    w.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    w.page.emulate_media(media="print")
    w.page.screenshot(path=str(tmp_path / "report-print.png"))
    w.assert_local()


def test_report_tables_need_no_javascript(browser: Any, store_db: Path, tmp_path: Path) -> None:
    with open_target([], db=store_db, scope=Scope.of(Filters(), NOW)) as target:
        d = diagnose(target, Filters(), DiagnoseOptions(NOW))
        html = render_html(d, overview(target))
    report = tmp_path / "report.html"
    report.write_text(html)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(report.as_uri())
    assert page.locator("table").count() >= 5 and page.locator("svg.timeline").count() == 1
    context.close()


def test_dashboard_filter_changes_the_table(browser: Any, store_db: Path, tmp_path: Path) -> None:
    with Dashboard(make_app(store_db, tmp_path), "127.0.0.1", 0) as dashboard:
        w = Watched(browser)
        w.page.goto(dashboard.url)
        assert w.page.locator("svg.timeline rect").count() > 10
        w.page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        w.page.goto(dashboard.url + "connections")
        assert w.page.locator("#total").inner_text() == "500 connection(s)"
        before = w.page.locator("#connections tbody tr").count()
        w.page.select_option("select[name=status]", "ClientCertExpired")
        w.page.click("form.filters button[type=submit]")
        w.page.wait_for_url("**status=ClientCertExpired**")
        assert w.page.locator("#total").inner_text() == "20 connection(s)"
        statuses = w.page.locator("#connections tbody tr td:nth-child(6)").all_inner_texts()
        assert before == 50 and len(statuses) == 20
        assert set(statuses) == {"Failed:ClientCertExpired"}
        w.page.screenshot(path=str(tmp_path / "filtered.png"), full_page=True)
        w.page.click("#connections tbody tr td:nth-child(2) a")
        w.page.wait_for_url("**/client/203.0.113.9**")
        assert "Client 203.0.113.9" in w.page.locator("h1").inner_text()
        w.assert_local()


def test_report_tls_bars_are_drawn_in_proportion(browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mtls_doctor.cli import cli
    from tests.diagnose.tlscorpus import write_tls_logs

    logs = write_tls_logs(tmp_path / "logs")
    report = tmp_path / "report.html"
    args = ["report", str(logs), "--tls", "--at", "2024-04-06T00:00:00Z", "-o", str(report)]
    assert CliRunner().invoke(cli, args).exit_code == 1
    w = Watched(browser)
    w.page.goto(report.as_uri())
    # The protocol mix: 7, 5, 3 and 2 handshakes, on a page as wide as a laptop's.
    bars = w.page.locator("h2#tls ~ table").first.locator(".bar")
    widths = [bars.nth(i).bounding_box()["width"] for i in range(bars.count())]
    assert len(widths) == 4
    for width, n in zip(widths, (7, 5, 3, 2), strict=True):
        assert abs(width - widths[0] * n / 7) <= 1.5, widths
    w.assert_local()
