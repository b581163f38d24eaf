"""Static matplotlib figures of run history (``deploykit.history``'s frames); to be folded into
``deploykit.plots``.

Like the rest of ``deploykit.plots``: each function builds a
:class:`matplotlib.figure.Figure` directly (never ``pyplot``), and user text is drawn
with ``parse_math=False``.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

__all__ = ["STATE_COLORS", "activity_heatmap", "duration_over_time", "state_timeline"]

STATE_COLORS = {
    "COMPLETED": "#2ca02c",
    "FAILED": "#d62728",
    "CRASHED": "#ff7f0e",
    "CANCELLED": "#7f7f7f",
    "CANCELLING": "#bcbcbc",
    "RUNNING": "#1f77b4",
    "PENDING": "#e7ba52",
    "SCHEDULED": "#9edae5",
    "PAUSED": "#9467bd",
}
"""One colour per Prefect state type (Prefect's UI colours, roughly)."""
_OTHER_COLOR = "#000000"
_MAX_LANES = 40


def duration_over_time(
    metrics: pl.DataFrame,
    *,
    runs: pl.DataFrame | None = None,
    metric: str = "duration",
    title: str | None = None,
) -> Figure:
    """A metric per period: the p50 line inside a p50-p95 band, the runs as dots behind.

    Parameters
    ----------
    metrics
        ``run_metrics(store, metric, every=...)`` output (``period``, ``p50``, ``p95``).
    runs
        Optional ``recent_runs`` output: each run's ``metric`` at its expected start,
        coloured by state.
    metric
        ``"duration"`` or ``"lateness"`` (labels, and the column of ``runs``).
    title
        The axes title (default: the metric over time).

    Returns
    -------
    Figure
        One axes: a line (p50), a filled band (p50 to p95), and a scatter of runs.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> days = [datetime(2024, 1, d, tzinfo=timezone.utc) for d in (1, 2, 3)]
    >>> m = pl.DataFrame({"period": days, "p50": [60.0, 65.0, 300.0], "p95": [90.0, 80.0, 600.0]})
    >>> ax = duration_over_time(m).axes[0]
    >>> ax.lines[0].get_ydata().tolist(), len(ax.collections), ax.get_ylabel()
    ([60.0, 65.0, 300.0], 1, 'duration (s)')
    """
    figure = Figure(figsize=(9, 3))
    ax = figure.add_subplot()
    ax.set_title(title or f"{metric.capitalize()} over time", parse_math=False)
    ax.set_xlabel("expected start (UTC)")
    ax.set_ylabel(f"{metric} (s)")
    if runs is not None and not runs.is_empty():
        shown = runs.filter(pl.col(metric).is_not_null())
        for state, group in shown.group_by("state_type", maintain_order=True):
            ax.scatter(
                group["expected_start_time"].to_list(),
                group[metric].to_numpy(),
                s=10,
                alpha=0.5,
                color=STATE_COLORS.get(state[0], _OTHER_COLOR),
                label=f"run {str(state[0]).lower()}",
            )
    ordered = metrics.filter(pl.col("period").is_not_null()).sort("period")
    if ordered.is_empty():
        if not ax.collections:
            ax.text(0.5, 0.5, f"no {metric} in this window", ha="center", va="center", transform=ax.transAxes)
        return figure
    periods = ordered["period"].to_list()
    ax.fill_between(
        periods, ordered["p50"].to_numpy(), ordered["p95"].to_numpy(), alpha=0.25, label="p50-p95"
    )
    ax.plot(periods, ordered["p50"].to_numpy(), marker="o", color="#1f77b4", label="p50")
    _date_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return figure


def state_timeline(runs: pl.DataFrame, *, title: str = "Recent runs") -> Figure:
    """Runs as bars from start to end (dots when not started), one lane per deployment,
    coloured by state.

    Parameters
    ----------
    runs
        ``recent_runs`` output: ``deployment_name``, ``state_type``,
        ``expected_start_time``, ``start_time``, ``end_time``.
    title
        The axes title.

    Returns
    -------
    Figure
        One axes; a bar per finished run, a dot at the expected start of the others.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2024, 1, 1, h, tzinfo=timezone.utc)
    >>> runs = pl.DataFrame({"deployment_name": ["a", "a", "b"],
    ...     "state_type": ["COMPLETED", "FAILED", "SCHEDULED"],
    ...     "expected_start_time": [t(1), t(2), t(3)], "start_time": [t(1), t(2), None],
    ...     "end_time": [t(2), t(3), None]})
    >>> ax = state_timeline(runs).axes[0]
    >>> len(ax.patches), len(ax.collections[0].get_offsets()), [t.get_text() for t in ax.get_yticklabels()]
    (2, 1, ['a', 'b'])
    """
    lanes = runs["deployment_name"].unique(maintain_order=True).sort().to_list() if runs.height else []
    shown = lanes[:_MAX_LANES]
    figure = Figure(figsize=(9, 1.2 + 0.3 * max(len(shown), 1)))
    ax = figure.add_subplot()
    ax.set_title(title, parse_math=False)
    ax.set_xlabel("time (UTC)")
    if not shown:
        ax.text(0.5, 0.5, "no runs in this window", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return figure
    lane_of = {name: i for i, name in enumerate(shown)}
    drawn = runs.filter(pl.col("deployment_name").is_in(shown))
    bars = drawn.filter(pl.col("start_time").is_not_null() & pl.col("end_time").is_not_null())
    if bars.height:
        ax.barh(
            [lane_of[name] for name in bars["deployment_name"]],
            [
                max(end - start, timedelta(seconds=1))
                for start, end in bars.select("start_time", "end_time").rows()
            ],
            left=bars["start_time"].to_list(),
            height=0.7,
            color=[STATE_COLORS.get(s, _OTHER_COLOR) for s in bars["state_type"]],
        )
    points = drawn.filter(pl.col("start_time").is_null() | pl.col("end_time").is_null())
    if points.height:
        at = points.select(
            pl.coalesce("start_time", "expected_start_time").alias("t"), "deployment_name", "state_type"
        )
        ax.scatter(
            at["t"].to_list(),
            [lane_of[name] for name in at["deployment_name"]],
            color=[STATE_COLORS.get(s, _OTHER_COLOR) for s in at["state_type"]],
            s=22,
            zorder=3,
        )
    _date_axis(ax)
    ax.set_yticks(range(len(shown)), shown, parse_math=False)
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.invert_yaxis()
    present = [s for s in STATE_COLORS if s in set(drawn["state_type"])]
    for state in present:
        ax.scatter([], [], color=STATE_COLORS[state], label=state.lower())
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    if len(lanes) > len(shown):
        ax.set_xlabel(f"time (UTC); {len(lanes) - len(shown)} more deployments not shown")
    return figure


def activity_heatmap(counts: pl.DataFrame, *, title: str = "Runs per day and state") -> Figure:
    """Runs per (state, day): one row per state type, one column per day (empty days included).

    Parameters
    ----------
    counts
        ``run_counts(store, by="state_type", every="1d")`` output
        (``state_type``, ``period``, ``runs``).
    title
        The axes title.

    Returns
    -------
    Figure
        One image of shape (states, days); the cell value is the number of runs.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> d = lambda day: datetime(2024, 1, day, tzinfo=timezone.utc)
    >>> counts = pl.DataFrame({"state_type": ["COMPLETED", "FAILED", "COMPLETED"],
    ...     "period": [d(1), d(1), d(3)], "runs": [5, 1, 2]})
    >>> activity_heatmap(counts).axes[0].images[0].get_array().tolist()
    [[5, 0, 2], [1, 0, 0]]
    """
    known = counts.filter(pl.col("period").is_not_null())
    figure = Figure(figsize=(9, 2.2 + 0.3 * max(known["state_type"].n_unique(), 1)))
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.set_xlabel("day (UTC)")
    if known.is_empty():
        ax.text(0.5, 0.5, "no runs in this window", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return figure
    order = {s: i for i, s in enumerate(STATE_COLORS)}
    states = sorted(known["state_type"].unique().to_list(), key=lambda s: (order.get(s, len(order)), s))
    first = known["period"].min()
    days = int((known["period"].max() - first).days) + 1  # type: ignore[operator]
    grid = np.zeros((len(states), days), dtype=np.int64)
    rows = known.select(
        pl.col("state_type").replace_strict({s: i for i, s in enumerate(states)}, return_dtype=pl.Int64),
        ((pl.col("period") - first).dt.total_days()).alias("col"),
        "runs",
    )
    np.add.at(grid, (rows["state_type"].to_numpy(), rows["col"].to_numpy()), rows["runs"].to_numpy())
    image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(states)), [s.lower() for s in states])
    step = max(1, days // 12)
    ax.set_xticks(
        range(0, days, step), [(first + timedelta(days=k)).date().isoformat() for k in range(0, days, step)],
        rotation=45, ha="right",
    )  # fmt: skip
    figure.colorbar(image, ax=ax, label="runs")
    return figure


def _date_axis(ax: object) -> None:
    """Short, non-overlapping date labels on the x axis (matplotlib's concise formatter)."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[attr-defined]
