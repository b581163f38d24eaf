"""Issue 13 item 1 on the command line: ``report`` (and ``demo``) and ``work-queue preview`` count every run.

``preview_runs`` keeps a default cap of 1,000 runs per schedule (explicit, raisable, warned);
the commands that show a window's runs or their load ask for every run, so a deployment
that fires every minute is not cut to 1,000 runs (the "fake drop" of the load heatmap).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from tests_support import new_deployment, run_cli

import deploykit as dk
from deploykit import plots
from deploykit.models import deployments as D
from deploykit.models import flows

EVERY_MINUTE = {"interval": 60, "anchor_date": "2023-01-01T00:00:00+00:00"}
NAMES = ("minutely-0", "minutely-1", "minutely-2")


@pytest.fixture
def db(tmp_path) -> str:
    """A store file with three deployments that each run every minute (1,440 runs a day)."""
    path = tmp_path / "busy.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        for name in NAMES:
            new_deployment(store, flow, name, schedule=EVERY_MINUTE, work_queue_name="default")
    return str(path)


@pytest.mark.filterwarnings("error")
def test_work_queue_preview_lists_every_run_of_the_window(db, capsys):
    code, out, err = run_cli(
        capsys, "work-queue", "preview", "default", "--hours", "24", "--start", "2024-01-01T00:00:00+00:00",
        "--format", "json", "--store", db,
    )  # fmt: skip
    assert (code, err) == (0, "")
    runs = pl.DataFrame(json.loads(out))
    assert runs.group_by("deployment_name").len().sort("deployment_name").rows() == [(n, 1441) for n in NAMES]


@pytest.mark.filterwarnings("error")
def test_report_tables_and_heatmap_count_every_run(db, tmp_path, capsys, monkeypatch):
    shown: list[int] = []
    real = plots.load_heatmap

    def spy(runs: pl.DataFrame, **kwargs):
        shown.append(runs.height)
        return real(runs, **kwargs)

    monkeypatch.setattr(plots, "load_heatmap", spy)
    code, _, err = run_cli(capsys, "report", str(tmp_path / "r"), "--hours", "24", "--store", db)
    assert (code, err) == (0, "")
    per_deployment = pl.read_csv(tmp_path / "r" / "next_runs.csv").group_by("deployment_name").len()
    # the summaries' next runs (demo prints the same table): 24 h of minutes, 1,441 when now is on the minute
    assert per_deployment["len"].min() >= 1440
    assert shown and shown[0] >= len(NAMES) * 7 * 1440  # the heatmap's 7 days, not 3 x 1,000


# --- a figure drawn from a preview cut at max_runs says so (issue 13 item 1: "reported wherever shown")


def test_figures_of_a_capped_preview_say_they_are_incomplete(db):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    window = {"start": start, "end": start + timedelta(days=1)}
    with dk.Store(db, read_only=True) as store:
        with pytest.warns(UserWarning, match="stopped 3 deployment"):
            capped = D.preview_runs(store, window["start"], window["end"])
        exact = D.preview_runs(store, window["start"], window["end"], max_runs=None)
    for figure in (
        plots.load_heatmap(capped, **window),
        plots.schedule_timeline(capped, lane="deployment_name"),
    ):
        title = figure.axes[0].get_title()
        assert "incomplete" in title and "3 deployment(s)" in title and "max_runs=None" in title
    for figure in (plots.load_heatmap(exact, **window), plots.schedule_timeline(exact)):
        assert "incomplete" not in figure.axes[0].get_title()
