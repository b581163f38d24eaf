"""RunHistory in a real browser: Voila serves ``history_e2e.ipynb``, Debian's headless Chromium
drives it through Playwright (``_browser_support.py``, as for the other widgets).

Changing the status filter must re-render the health table; picking another deployment
must redraw its figures. A screenshot goes to ``test-output/screenshots/run_history.png``;
requests leaving 127.0.0.1 are blocked (the widget works offline).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _browser_support import HERE, SHOTS, TIMEOUT_MS, offline_page, serve_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

NOTEBOOK = HERE / "history_e2e.ipynb"
READY = ".dk-run-history .dk-duration img, .dk-run-history img.dk-duration"
"""Shown once the widget has drawn its first figure."""


@pytest.fixture(scope="module")
def history_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The rendered notebook in headless Chromium, offline; Voila always terminated."""
    log = tmp_path_factory.mktemp("voila-history") / "voila.log"
    with serve_notebook(NOTEBOOK, log) as url, offline_page(url, READY) as tab:
        yield tab


def test_health_table_filters_and_selection_redraws(history_page):
    page = history_page
    widget = page.locator(".dk-run-history")
    expect(widget.locator(".dk-summary")).to_contain_text("240 deployments (", timeout=TIMEOUT_MS)
    expect(widget.locator(".dk-health")).to_contain_text("failing in a row", timeout=TIMEOUT_MS)
    widget.screenshot(path=str(SHOTS / "run_history.png"))

    widget.locator(".dk-status select").select_option("failing")
    page.wait_for_function(
        "[...document.querySelectorAll('.dk-health tbody tr')].every(r => r.innerText.includes('failing'))"
        " && document.querySelectorAll('.dk-health tbody tr').length > 0",
        timeout=TIMEOUT_MS,
    )
    assert "healthy" not in widget.locator(".dk-health").inner_text()

    before = {
        css: widget.locator(css).get_attribute("src")
        for css in (".dk-duration", ".dk-timeline", ".dk-lateness")
    }
    widget.locator(".dk-select select").select_option(index=2)
    for css, src in before.items():
        page.wait_for_function(
            f"document.querySelector('{css}').getAttribute('src') !== {src!r}", timeout=TIMEOUT_MS
        )
    expect(widget.locator(".dk-details-pane")).to_contain_text("failing", timeout=TIMEOUT_MS)
    expect(widget.locator(".dk-timeline")).to_be_visible(timeout=TIMEOUT_MS)
    expect(widget.locator(".dk-lateness")).to_be_visible(timeout=TIMEOUT_MS)
    assert "Traceback" not in widget.inner_text()
    widget.screenshot(path=str(SHOTS / "run_history_failing.png"))


def test_history_page_fetches_nothing_from_the_internet(history_page):
    history_page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    assert history_page.outside == []  # type: ignore[attr-defined]
