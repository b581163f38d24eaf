"""Figures: what each one draws, checked on the returned matplotlib objects."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from deploykit import plots


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2023, 3, day, hour, minute, tzinfo=UTC)


def test_timeline_one_lane_per_deployment_and_dst_runs_apart():
    runs = pl.DataFrame(
        {
            "scheduled_time": [at(11, 7), at(12, 7), at(12, 8), at(13, 6)],
            "dst_adjusted": [False, True, False, False],
            "deployment_name": ["a$x$", "a$x$", "b", "b"],
        }
    )
    ax = plots.schedule_timeline(runs, lane="deployment_name").axes[0]
    regular, moved = ax.collections
    assert len(regular.get_offsets()) == 3 and len(moved.get_offsets()) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a$x$", "b"]
    assert ax.get_xlabel() == "scheduled time (UTC)"
    assert plots.to_png(ax.figure).startswith(b"\x89PNG")  # "$x$" is not parsed as mathtext


def test_timeline_of_no_runs_says_so():
    empty = pl.DataFrame(schema={"scheduled_time": pl.Datetime("us", "UTC"), "dst_adjusted": pl.Boolean})
    ax = plots.schedule_timeline(empty).axes[0]
    assert len(ax.collections) == 0 and ax.texts[0].get_text() == "no runs in this window"


def test_load_heatmap_counts_runs_per_local_day_and_hour():
    # 23:30 UTC on 2023-03-11 is 00:30 on 2023-03-12 in Berlin (UTC+1).
    preview = pl.DataFrame({"scheduled_time": [at(11, 23, 30), at(11, 23, 45), at(14, 8)]})
    utc = plots.load_heatmap(preview).axes[0].images[0].get_array()
    berlin_ax = plots.load_heatmap(preview, timezone="Europe/Berlin").axes[0]
    berlin = berlin_ax.images[0].get_array()
    assert utc.shape == (4, 24) and utc[0, 23] == 2 and utc[3, 8] == 1 and utc.sum() == 3
    assert berlin.shape == (3, 24) and berlin[0, 0] == 2 and berlin[2, 9] == 1
    assert [t.get_text() for t in berlin_ax.get_yticklabels()] == ["2023-03-12", "2023-03-13", "2023-03-14"]
    assert berlin_ax.get_xlabel() == "hour of day (Europe/Berlin)"


def test_queue_match_heatmap_has_one_cell_per_pair():
    rows = [
        (
            dep,
            name,
            queue,
            pool,
            qname,
            dep == "d1" or queue == "q1",
            (dep, queue) in {("d1", "q2"), ("d3", "q3")},
        )
        for dep, name in [("d1", "alpha"), ("d2", "beta"), ("d3", "gamma")]
        for queue, pool, qname in [("q1", "p", "default"), ("q2", "p", "etl"), ("q3", "k8s", "default")]
    ]
    matches = pl.DataFrame(
        rows,
        schema=[
            "deployment_id",
            "deployment_name",
            "work_queue_id",
            "work_pool_name",
            "work_queue_name",
            "matches",
            "assigned",
        ],
        orient="row",
    )
    ax = plots.queue_match_heatmap(matches).axes[0]
    assert ax.images[0].get_array().tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert ax.collections[0].get_offsets().tolist() == [[1, 0], [2, 2]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p/default", "p/etl", "k8s/default"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["alpha", "beta", "gamma"]
