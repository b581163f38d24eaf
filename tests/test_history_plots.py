"""The run-history figures, drawn from the history functions' frames of the real fixtures."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

import deploykit as dk
from deploykit.history import recent_runs, run_counts, run_metrics
from deploykit.plots import activity_heatmap, duration_over_time, state_timeline, to_png

AS_OF = datetime(2023, 6, 1, tzinfo=UTC)
"""The sample data's "now"."""


@pytest.fixture(scope="module")
def store(sample_store: dk.Store) -> dk.Store:
    return sample_store


def test_duration_band_is_p50_to_p95(store):
    metrics = run_metrics(store, "duration", every="1d", as_of=AS_OF)
    runs = recent_runs(store, limit=500, as_of=AS_OF)
    figure = duration_over_time(metrics, runs=runs)
    ax = figure.axes[0]
    band = next(c for c in ax.collections if c.get_label() == "p50-p95")
    vertices = np.concatenate([p.vertices for p in band.get_paths()])
    assert vertices[:, 1].min() == pytest.approx(metrics["p50"].min())
    assert vertices[:, 1].max() == pytest.approx(metrics["p95"].max())
    assert ax.lines[0].get_ydata().tolist() == pytest.approx(metrics.sort("period")["p50"].to_list())
    dots = sum(len(c.get_offsets()) for c in ax.collections if c.get_label().startswith("run "))
    assert dots == runs["duration"].count()
    assert to_png(figure)[:4] == b"\x89PNG"


def test_activity_heatmap_counts_every_run(store):
    counts = run_counts(store)
    grid = activity_heatmap(counts).axes[0].images[0].get_array()
    assert int(grid.sum()) == store.sql("SELECT count(*) AS n FROM flow_run")["n"][0]
    assert grid.shape[0] == counts["state_type"].n_unique()


def test_state_timeline_lanes_and_empty(store):
    runs = recent_runs(store, limit=60, as_of=AS_OF)
    ax = state_timeline(runs).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == sorted(set(runs["deployment_name"]))[:40]
    finished = runs.filter(runs["start_time"].is_not_null() & runs["end_time"].is_not_null())
    assert len(ax.patches) == finished.height
    empty = recent_runs(store, limit=0)
    assert state_timeline(empty).axes[0].texts[0].get_text() == "no runs in this window"
    assert activity_heatmap(run_counts(store, since=AS_OF, until=AS_OF)).axes[0].texts
    nothing = run_metrics(store, "lateness", every="1d", since=AS_OF, until=AS_OF)
    assert duration_over_time(nothing).axes[0].texts
