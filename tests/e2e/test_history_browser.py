"""RunHistory in a real browser: Voila serves ``history_e2e.ipynb``, Debian's headless Chromium
drives it through Playwright (as ``test_browser.py`` does for the other widgets).

Changing the status filter must re-render the health table; picking another deployment
must redraw its figures. A screenshot goes to ``test-output/screenshots/run_history.png``;
requests leaving 127.0.0.1 are blocked (the widget works offline).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    TIMEOUT_MS,
    _free_port,
    _local_only,
    _wait_until_serving,
)

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "history_e2e.ipynb"


@pytest.fixture(scope="module")
def history_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The rendered notebook in headless Chromium, offline; Voila always terminated."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/install_browser.sh` first (CI does)")
    port = _free_port()
    log = tmp_path_factory.mktemp("voila-history") / "voila.log"
    command = [
        str(Path(sys.executable).parent / "voila"),
        NOTEBOOK.name,
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--template=deploykit",
        "--show_tracebacks=True",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            cwd=HERE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_serving(url, server, log)
        SHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                tab = browser.new_page(viewport={"width": 1400, "height": 2400})
                tab.outside = []  # type: ignore[attr-defined]
                tab.route("**/*", lambda route: _local_only(route, tab.outside))  # type: ignore[attr-defined]
                tab.goto(url, timeout=TIMEOUT_MS)
                tab.wait_for_selector(
                    ".dk-run-history .dk-duration img, .dk-run-history img.dk-duration", timeout=120_000
                )
                yield tab
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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
