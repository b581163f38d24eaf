"""Issue 13 in the views: DST effects shown, paused schedules, where runs go, figures, report."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from tests_support import new_deployment

import deploykit as dk
from deploykit import plots
from deploykit.cli import main
from deploykit.cli._summaries import summaries
from deploykit.models import deployments as D
from deploykit.models import flows, work_pools, work_queues
from deploykit.widgets import DeploymentBrowser, SchedulePreview
from deploykit.widgets._browser import LEGACY_MATCHES, PAUSED_RUNS

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
NOW = datetime(2023, 3, 10, tzinfo=UTC)


@pytest.fixture
def small(store: dk.Store) -> dk.Store:
    """A paused deployment in a pool queue, an active one in a paused queue, an open queue."""
    flow = flows.create_flow(store, dk.Flow(name="etl"))
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    gpu = work_queues.create_work_queue(store, dk.WorkQueue(name="gpu", work_pool_id=pool.id))
    work_queues.create_work_queue(store, dk.WorkQueue(name="held", is_paused=True))
    new_deployment(
        store,
        flow,
        "paused-hourly",
        schedule={"interval": 3600, "anchor_date": "2023-01-01T00:00:00+00:00"},
        is_schedule_active=False,
        work_queue_id=gpu.id,
    )
    new_deployment(
        store,
        flow,
        "half-hourly",
        schedule={"cron": "*/30 * * * *", "timezone": "Europe/Berlin"},
        work_queue_name="held",
    )
    return store


def _select(browser: DeploymentBrowser, store: dk.Store, name: str) -> dict:
    browser.deployment_select.value = str(D.read_deployment_by_name(store, name, "etl").id)
    return browser.details


# --- browser details: paused schedules, where runs go -----------------------------------------


def test_browser_lists_no_runs_for_a_paused_schedule(small):
    details = _select(DeploymentBrowser(small, now=NOW), small, "paused-hourly")
    assert details["schedule active"] is False and details["next runs"] == PAUSED_RUNS


def test_browser_shows_where_runs_go_before_the_legacy_filter(small):
    browser = DeploymentBrowser(small, now=NOW)
    details = _select(browser, small, "paused-hourly")
    assert details["picked up by"] == ["k8s/gpu"] and details["queue status"] == "active"
    # every queue without a filter admits it by the legacy rule: listed under its own label
    assert set(details[LEGACY_MATCHES]) >= {"default-agent-pool/default", "k8s/gpu"}
    keys = list(details)
    assert keys.index("picked up by") < keys.index(LEGACY_MATCHES)
    assert "Prefect 2 agents" in browser.details_html.value
    held = _select(browser, small, "half-hourly")
    assert held["picked up by"] == ["default-agent-pool/held"] and "paused" in held["queue status"]


def test_demo_tables_count_each_deployment_once_at_its_queue(small):
    tables = summaries(small)
    assert "top_queue_matches" not in tables
    assigned = tables["where_runs_go"]
    assert assigned["deployments_assigned"].sum() == 2
    legacy = tables["legacy_queue_filter_matches"]
    assert legacy["legacy_filter_admits"].sum() > assigned["deployments_assigned"].sum()


# --- SchedulePreview: paused and DST ---------------------------------------------------------


def test_preview_of_a_paused_deployment_shows_no_runs(small):
    preview = SchedulePreview(small, start=date(2023, 3, 11))
    preview.picker.search.value = "paused"
    assert preview.schedule is not None and preview.paused
    assert preview.runs.is_empty() and preview.figure is None and preview.runs_html.value == ""
    assert "paused" in preview.describe_html.value


def test_preview_says_where_dst_changes_the_runs():
    preview = SchedulePreview(dk.Store(), start=date(2027, 3, 28))
    preview.source.value = "cron"
    preview.timezone.value = "Europe/Berlin"
    preview.mode.value = "window"
    preview.days.value = 1
    preview.expression.value = "*/30 * * * *"
    assert preview.dst["effect"].to_list() == ["merged", "merged"]
    assert "Where DST changes my runs" in preview.dst_html.value
    assert "02:00" in preview.dst_html.value and "02:30" in preview.dst_html.value
    preview.start.value = date(2027, 5, 1)
    assert preview.dst.is_empty() and "No DST change" in preview.dst_html.value


# --- deploykit preview --dst ----------------------------------------------------------------

BERLIN = ["preview", "--cron", "*/30 * * * *", "--timezone", "Europe/Berlin", "--start", "2027-03-28"]


def test_cli_preview_dst_lists_effects_in_parseable_formats(capsys):
    assert main([*BERLIN, "--hours", "24", "--dst", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [(r["effect"], r["wall_time"]) for r in rows] == [
        ("merged", "2027-03-28T02:00:00"),
        ("merged", "2027-03-28T02:30:00"),
    ]
    assert err == ""
    assert main([*BERLIN, "--hours", "24", "--dst", "--format", "csv"]) == 0
    assert len(pl.read_csv(io.StringIO(capsys.readouterr().out))) == 2


def test_cli_preview_table_notes_dst_on_stderr_only(capsys):
    assert main([*BERLIN, "--hours", "24"]) == 0
    out, err = capsys.readouterr()
    assert "2 merged" in err and "--dst" in err and "merged" not in out
    assert main([*BERLIN, "--hours", "24", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 49 and err == ""  # every UTC half hour has its run


# --- figures ---------------------------------------------------------------------------------


def _inside(figure) -> bool:
    """Every text and legend of the figure, drawn by a plain savefig, lies inside it."""
    canvas = FigureCanvasAgg(figure)
    figure.savefig(io.BytesIO(), format="png")
    renderer = canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    artists = [t for ax in figure.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]]
    artists += [ax.xaxis.label for ax in figure.axes] + [ax.yaxis.label for ax in figure.axes]
    artists += [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None]
    for artist in artists:
        if not artist.get_visible() or (hasattr(artist, "get_text") and not artist.get_text()):
            continue
        box = artist.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            return False
    return True


def _matrix() -> pl.DataFrame:
    rows = [
        (dep, dep, queue, pool, name, pool == "k8s", (dep, queue) == ("d1", "q3"))
        for dep in ("d1", "d2")
        for queue, pool, name in [
            ("q1", "p", "a-very-long-queue-name"),
            ("q2", "k8s", "gpu"),
            ("q3", "p", "b"),
        ]
    ]
    columns = ["deployment_id", "deployment_name", "work_queue_id", "work_pool_name", "work_queue_name"]
    return pl.DataFrame(rows, schema=[*columns, "matches", "assigned"], orient="row")


def test_queue_matrix_has_a_legend_and_groups_columns_by_pool():
    ax = plots.queue_match_heatmap(_matrix()).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["p/a-very-long-queue-name", "p/b", "k8s/gpu"]
    assert [line.get_xdata()[0] for line in ax.lines] == [1.5]  # one line between the pools
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("legacy filter admits" in t for t in legend) and any("does not" in t for t in legend)
    assert any("assigned" in t for t in legend)
    assert ax.collections[0].get_offsets().tolist() == [[1, 0]]  # d1's assigned q3, now column 1
    assert _inside(ax.figure)


def test_heatmap_blanks_hours_outside_the_window_and_ticks_integers():
    runs = pl.DataFrame({"scheduled_time": [datetime(2023, 3, 11, h, tzinfo=UTC) for h in (10, 10, 11, 12)]})
    figure = plots.load_heatmap(
        runs, start=datetime(2023, 3, 11, 9, 30, tzinfo=UTC), end=datetime(2023, 3, 12, 3, tzinfo=UTC)
    )
    grid = np.ma.filled(figure.axes[0].images[0].get_array().astype(float), np.nan)
    assert grid.shape == (2, 24)
    assert np.isnan(grid[0, :9]).all() and np.isnan(grid[1, 4:]).all()
    assert grid[0, 9] == 0 and grid[0, 10] == 2 and grid[1, 3] == 0
    ticks = figure.axes[1].get_yticks()
    assert len(ticks) and all(float(t).is_integer() for t in ticks)
    assert _inside(figure)


def test_timeline_legend_sits_beside_the_rows():
    runs = pl.DataFrame(
        {
            "scheduled_time": [datetime(2023, 3, 11, h, tzinfo=UTC) for h in range(6)],
            "dst_adjusted": [False, True] * 3,
            "deployment_name": ["a-long-deployment-name", "b"] * 3,
        }
    )
    figure = plots.schedule_timeline(runs, lane="deployment_name")
    assert _inside(figure)
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


# --- report.md --------------------------------------------------------------------------------


def test_report_embeds_its_figures_and_names_the_no_schedule_kind(tmp_path, capsys):
    db = str(tmp_path / "s.duckdb")
    assert main(["import", str(FIXTURES), "--store", db]) == 0
    assert main(["report", str(tmp_path / "r"), "--store", db]) == 0
    capsys.readouterr()
    text = (tmp_path / "r" / "report.md").read_text()
    pngs = sorted(p.name for p in (tmp_path / "r").glob("*.png"))
    assert pngs and all(f"]({name})" in text for name in pngs)
    kinds = pl.read_csv(tmp_path / "r" / "schedule_kinds.csv")
    assert kinds["schedule_type"].null_count() == 0
    if "none (no schedule)" in kinds["schedule_type"].to_list():
        assert "none (no schedule)" in text
    assert "legacy queue filter (Prefect 2 agents)" in text
