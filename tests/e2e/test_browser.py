"""The three widgets in a real browser: Voila serves ``widgets_e2e.ipynb``, headless
Chromium (Debian's, never a downloaded one) drives it through Playwright.

For each widget a control is changed and the rendered table / text / image must
update; the hostile description must show as text and never run. Screenshots of each
widget go to ``test-output/screenshots/``. Requests leaving 127.0.0.1 are blocked (the
widgets must work offline). Install the browser with ``scripts/install_browser.sh``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _browser_support import HERE, SHOTS, TIMEOUT_MS, offline_page, serve_notebook
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

NOTEBOOK = HERE / "widgets_e2e.ipynb"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voila serving the e2e notebook on a free local port; always terminated."""
    with serve_notebook(NOTEBOOK, tmp_path_factory.mktemp("voila") / "voila.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(voila_url: str) -> Iterator[object]:
    """The rendered notebook in headless Chromium, offline, recording dialogs."""
    with offline_page(voila_url, ".dk-queue-inspector", record_dialogs=True) as tab:
        yield tab


def _type(page: object, selector: str, text: str) -> None:
    """Type into a text widget and commit it (Enter), as a user would."""
    box = page.locator(f"{selector} input")  # type: ignore[attr-defined]
    box.fill(text)
    box.press("Enter")


def _image_src(page: object, selector: str) -> str:
    return page.locator(selector).get_attribute("src")  # type: ignore[attr-defined]


def _assert_not_injected(page: object) -> None:
    assert page.locator('img[src="x"]').count() == 0  # type: ignore[attr-defined]
    assert page.locator("script", has_text="alert(").count() == 0  # type: ignore[attr-defined]
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_deployment_browser_filters_pages_and_escapes(page):
    expect(page.locator(".dk-summary")).to_contain_text("of 241 deployments", timeout=TIMEOUT_MS)
    page.locator(".dk-browser").screenshot(path=str(SHOTS / "deployment_browser.png"))

    page.locator(".dk-next").click()
    page.wait_for_function(
        "document.querySelector('.dk-summary').innerText.includes('page 2 of')", timeout=TIMEOUT_MS
    )
    _type(page, ".dk-name", "hostile")
    page.wait_for_function(
        "document.querySelector('.dk-summary').innerText.includes('1–1 of 1 deployments')",
        timeout=TIMEOUT_MS,
    )
    expect(page.locator(".dk-results")).to_contain_text("<b>bold</b>", timeout=TIMEOUT_MS)
    details = page.locator(".dk-details-pane")
    details.get_by_text(HOSTILE, exact=True).wait_for(timeout=TIMEOUT_MS)
    expect(details).to_contain_text("<script>alert(2)</script>", timeout=TIMEOUT_MS)
    expect(page.locator(".dk-code-pane")).to_contain_text("like_='hostile'", timeout=TIMEOUT_MS)
    _assert_not_injected(page)
    page.locator(".dk-browser").screenshot(path=str(SHOTS / "deployment_browser_hostile.png"))


def test_schedule_preview_updates_and_reports_errors(page):
    widget = page.locator(".dk-schedule-preview")
    before = _image_src(page, ".dk-timeline")
    widget.locator(".dk-source button", has_text="cron").click()
    _type(page, ".dk-timezone", "America/New_York")
    _type(page, ".dk-expression", "30 2 * * *")
    runs = page.locator(".dk-runs")
    runs.get_by_text("DST-adjusted").wait_for(timeout=TIMEOUT_MS)
    expect(runs).to_contain_text("local (America/New_York)", timeout=TIMEOUT_MS)
    expect(runs).to_contain_text("2023-03-12 03:00:00", timeout=TIMEOUT_MS)  # 02:30 does not exist
    page.wait_for_function(
        f"document.querySelector('.dk-timeline').getAttribute('src') !== {before!r}", timeout=TIMEOUT_MS
    )
    expect(page.locator(".dk-heatmap")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".dk-busiest")).to_contain_text("Busiest hours", timeout=TIMEOUT_MS)
    widget.screenshot(path=str(SHOTS / "schedule_preview.png"))

    _type(page, ".dk-expression", "61 * * * *")
    error = page.locator(".dk-error")
    error.wait_for(timeout=TIMEOUT_MS)
    expect(error).to_contain_text("cron:", timeout=TIMEOUT_MS)
    expect(error).to_contain_text("61", timeout=TIMEOUT_MS)
    expect(page.locator(".dk-timeline")).to_be_hidden(timeout=TIMEOUT_MS)
    assert "Traceback" not in widget.inner_text()
    _type(page, ".dk-expression", HOSTILE)
    page.wait_for_function(
        "(document.querySelector('.dk-error')?.innerText ?? '').includes('<img')",
        timeout=TIMEOUT_MS,
    )
    _assert_not_injected(page)
    widget.screenshot(path=str(SHOTS / "schedule_preview_error.png"))


def test_queue_match_inspector_explains_and_updates_matrix(page):
    widget = page.locator(".dk-queue-inspector")
    search = widget.locator(".dk-search input")
    before = _image_src(page, ".dk-matrix")
    search.fill("hostile")
    search.press("Enter")
    summary = widget.locator(".dk-verdict-summary")
    summary.get_by_text("does NOT pick it up", exact=False).wait_for(timeout=TIMEOUT_MS)
    expect(summary).to_contain_text(
        "docker-only does NOT pick it up: flow runner type not allowed", timeout=TIMEOUT_MS
    )
    expect(widget.locator(".dk-verdicts")).to_contain_text("docker-only", timeout=TIMEOUT_MS)
    expect(widget.locator(".dk-verdicts")).to_contain_text("picks it up", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"document.querySelector('.dk-matrix').getAttribute('src') !== {before!r}", timeout=TIMEOUT_MS
    )
    expect(widget.locator(".dk-matrix-note")).to_contain_text("1 deployments (first 15", timeout=TIMEOUT_MS)
    _assert_not_injected(page)
    widget.screenshot(path=str(SHOTS / "queue_match_inspector.png"))


def test_page_fetches_nothing_from_the_internet(page):
    """With ``--template=deploykit`` the dashboard asks only its own server for anything."""
    expect(page.locator(".dk-queue-inspector")).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    assert page.outside == []  # type: ignore[attr-defined]


def _pick_in_preview(page: object, name: str) -> object:
    widget = page.locator(".dk-schedule-preview")  # type: ignore[attr-defined]
    widget.locator(".dk-source button", has_text="deployment").click()
    search = widget.locator(".dk-search input")
    search.fill(name)
    search.press("Enter")
    return widget


def test_schedule_preview_of_a_paused_deployment_lists_no_runs(page):
    widget = _pick_in_preview(page, "analytics-00-065")
    expect(widget.locator(".dk-describe")).to_contain_text("paused", timeout=TIMEOUT_MS)
    expect(widget.locator(".dk-describe")).to_contain_text("creates no runs", timeout=TIMEOUT_MS)
    expect(page.locator(".dk-timeline")).to_be_hidden(timeout=TIMEOUT_MS)
    assert widget.locator(".dk-runs-table").count() == 0
    widget.screenshot(path=str(SHOTS / "schedule_preview_paused.png"))


def test_schedule_preview_counts_more_than_1000_runs_of_one_deployment(page):
    """Every minute for the 7-day window: 10,080 runs, none cut off (issue 13 item 1)."""
    widget = _pick_in_preview(page, "analytics-01-066")
    fleet = widget.locator(".dk-fleet")
    expect(fleet).to_contain_text("of 1 deployments", timeout=TIMEOUT_MS)
    expect(fleet).to_contain_text("10080 runs", timeout=TIMEOUT_MS)
    assert "limit" not in fleet.inner_text()
    widget.screenshot(path=str(SHOTS / "schedule_preview_busy.png"))
