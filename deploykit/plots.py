"""Static matplotlib figures of schedules, fleet load, queue matching and run history.

Shared by the notebook widgets and the CLI report. Every function builds a
:class:`matplotlib.figure.Figure` directly (never ``pyplot``): no global figure state,
safe under the Agg backend, in threads and in tests, and the caller owns the result.
:func:`to_png` renders a figure for an ``ipywidgets.Image`` or a report file.

User text (deployment and queue names) is drawn with ``parse_math=False``: a ``$`` in a
name is shown as typed, never interpreted as mathtext. Figures use matplotlib's
constrained layout, so a plain ``figure.savefig(path)`` keeps every label and legend
inside the image; legends sit beside the axes, never over the data.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from deploykit._extras import missing_extra

if TYPE_CHECKING:
    from matplotlib.axes import Axes

try:
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator
except ImportError as _exc:
    raise missing_extra("deploykit.plots", "widgets", _exc) from _exc

__all__ = [
    "STATE_COLORS",
    "activity_heatmap",
    "duration_over_time",
    "load_heatmap",
    "queue_match_heatmap",
    "schedule_timeline",
    "state_timeline",
    "to_png",
]

_RUN_COLOR = "#1f77b4"
_DST_COLOR = "#d62728"
_MATCH_COLORS = ListedColormap(["#eeeeee", "#2ca02c"])
_MAX_LABELS = 40
"""Above this many rows or columns, tick labels are thinned so they stay legible."""


def to_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes (offline; no display needed).

    Examples
    --------
    >>> to_png(Figure(figsize=(1, 1)))[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def schedule_timeline(runs: pl.DataFrame, *, lane: str | None = None, title: str = "Upcoming runs") -> Figure:
    """Runs as points on a time axis; runs moved by DST (``dst_adjusted``) stand out.

    Parameters
    ----------
    runs
        Needs ``scheduled_time`` (aware) and ``dst_adjusted``; the output of
        ``preview_runs`` or of a schedule's occurrences.
    lane
        Optional column naming one horizontal lane per value (e.g.
        ``"deployment_name"``); without it all runs share one lane.
    title
        The axes title.

    Returns
    -------
    Figure
        One axes; regular runs and DST-adjusted runs are two scatter collections.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> runs = pl.DataFrame({
    ...     "scheduled_time": [datetime(2023, 3, d, 7, tzinfo=timezone.utc) for d in (11, 12, 13)],
    ...     "dst_adjusted": [False, True, False]})
    >>> ax = schedule_timeline(runs).axes[0]
    >>> [len(c.get_offsets()) for c in ax.collections], ax.get_xlabel()
    ([2, 1], 'scheduled time (UTC)')
    """
    figure = Figure(
        figsize=(9, 2.2 if lane is None else 1.2 + 0.3 * _lanes(runs, lane)), layout="constrained"
    )
    ax = _axes(figure, _noted(title, runs), "scheduled time (UTC)")
    if runs.is_empty():
        _no_runs(ax)
        return figure
    names = runs[lane].unique(maintain_order=True).to_list() if lane else [""]
    rows = runs.with_columns(
        _y=pl.col(lane).replace_strict(names, list(range(len(names)))) if lane else pl.lit(0),
        _t=pl.col("scheduled_time").dt.convert_time_zone("UTC").dt.replace_time_zone(None),
    )
    for flag, color, marker, label in (
        (False, _RUN_COLOR, "o", "run"),
        (True, _DST_COLOR, "X", "DST-adjusted"),
    ):
        part = rows.filter(pl.col("dst_adjusted") == flag)
        ax.scatter(part["_t"].to_numpy(), part["_y"].to_numpy(), color=color, marker=marker, label=label)
    ax.set_yticks(range(len(names)), names, parse_math=False)
    ax.set_ylim(-0.8, len(names) - 0.2)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", borderaxespad=0)
    ax.tick_params(axis="x", labelrotation=30)
    return figure


def load_heatmap(
    preview: pl.DataFrame,
    *,
    timezone: str = "UTC",
    title: str = "Runs per hour",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Figure:
    """Runs per (day, hour) across a fleet, as a heatmap with one row per day.

    Parameters
    ----------
    preview
        Runs with an aware ``scheduled_time`` column (``preview_runs`` output).
    timezone
        The IANA zone whose calendar days and hours are shown.
    title
        The axes title.
    start, end
        The window the preview covers (aware): rows run from its first to its last
        local day, and the hours outside it are blank (NaN), not zero. Without them,
        rows run from the first to the last run's day.

    Returns
    -------
    Figure
        One image of shape (days, 24), days without runs included; the cell value is
        the number of runs; the colour bar has integer ticks.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> utc = timezone.utc
    >>> preview = pl.DataFrame({"scheduled_time": [
    ...     datetime(2023, 1, 1, 9, tzinfo=utc), datetime(2023, 1, 1, 9, 30, tzinfo=utc),
    ...     datetime(2023, 1, 3, 23, tzinfo=utc)]})
    >>> grid = load_heatmap(preview).axes[0].images[0].get_array()
    >>> grid.shape, int(grid.sum()), int(grid[0, 9])
    ((3, 24), 3, 2)
    """
    days, grid = _day_hour_grid(preview, timezone, start, end)
    figure = Figure(figsize=(9, 1.6 + 0.22 * max(len(days), 1)), layout="constrained")
    ax = _axes(figure, _noted(title, preview), f"hour of day ({timezone})")
    ax.set_ylabel("day")
    image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(0, 24, 2))
    step = max(1, len(days) // _MAX_LABELS + 1)
    ax.set_yticks(range(0, len(days), step), [d.isoformat() for d in days[::step]])
    bar = figure.colorbar(image, ax=ax, label="runs")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    return figure


def queue_match_heatmap(
    matches: pl.DataFrame, *, title: str = "Which queues pick up which deployments"
) -> Figure:
    """Deployments x work queues: green where the queue's legacy filter admits the deployment.

    A dot marks the queue each deployment is assigned to (its ``work_queue_id``): where
    its runs go. Columns are grouped by pool (pools in order of first appearance), with a
    line between pools; a legend names the colours and the dot.

    Parameters
    ----------
    matches
        ``queue_matches`` output: ``deployment_id``, ``deployment_name``,
        ``work_pool_name``, ``work_queue_name``, ``work_queue_id``, ``matches``,
        ``assigned``.
    title
        The axes title.

    Returns
    -------
    Figure
        One image of shape (deployments, queues), 1 where the queue matches.

    Examples
    --------
    >>> m = pl.DataFrame({
    ...     "deployment_id": ["d1", "d1", "d2", "d2"], "deployment_name": ["a", "a", "b", "b"],
    ...     "work_pool_name": ["p"] * 4, "work_queue_name": ["q1", "q2"] * 2,
    ...     "work_queue_id": ["1", "2"] * 2, "matches": [True, False, True, True],
    ...     "assigned": [False, True, True, False]})
    >>> ax = queue_match_heatmap(m).axes[0]
    >>> ax.images[0].get_array().tolist(), len(ax.collections[0].get_offsets())
    ([[1, 0], [1, 1]], 2)
    """
    deployments = matches.select("deployment_id", "deployment_name").unique(maintain_order=True)
    queues = matches.select("work_queue_id", "work_pool_name", "work_queue_name").unique(maintain_order=True)
    pools = queues["work_pool_name"].unique(maintain_order=True)
    queues = (
        queues.with_columns(_pool=pl.col("work_pool_name").replace_strict(pools, range(len(pools))))
        .sort("_pool", maintain_order=True)
        .drop("_pool")
    )
    cells = (
        deployments.with_row_index("_row")
        .join(matches, on=["deployment_id", "deployment_name"])
        .join(queues.with_row_index("_col").select("work_queue_id", "_col"), on="work_queue_id")
    )
    grid = np.zeros((deployments.height, queues.height), dtype=np.int64)
    hit = cells.filter("matches")
    grid[hit["_row"].to_numpy(), hit["_col"].to_numpy()] = 1
    assigned = cells.filter("assigned")

    labels = [f"{p}/{q}" for p, q in queues.select("work_pool_name", "work_queue_name").rows()]
    label_room = 0.07 * max((len(label) for label in labels), default=0)
    figure = Figure(
        figsize=(4.5 + 0.45 * queues.height, 2.0 + 0.28 * deployments.height + label_room),
        layout="constrained",
    )
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.imshow(grid, cmap=_MATCH_COLORS, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.scatter(
        assigned["_col"].to_numpy(),
        assigned["_row"].to_numpy(),
        color="black",
        s=18,
        label="assigned",
    )
    ax.set_xticks(range(queues.height), labels, rotation=60, ha="right", parse_math=False)
    ax.set_yticks(range(deployments.height), deployments["deployment_name"].to_list(), parse_math=False)
    ax.set_xlabel("work queue (pool/queue), grouped by pool")
    ax.set_ylabel("deployment")
    pool_of = queues["work_pool_name"]
    for column in range(1, queues.height):
        if pool_of[column] != pool_of[column - 1]:
            ax.axvline(column - 0.5, color="black", linewidth=1.5)
    handles = [
        Patch(facecolor=_MATCH_COLORS(1), edgecolor="grey", label="legacy filter admits (Prefect 2 agents)"),
        Patch(facecolor=_MATCH_COLORS(0), edgecolor="grey", label="legacy filter does not admit"),
    ]
    if assigned.height:
        handles.append(ax.collections[0])
        handles[-1].set_label("assigned queue: where its runs go")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", borderaxespad=0)
    return figure


def _lanes(runs: pl.DataFrame, lane: str) -> int:
    return max(runs[lane].n_unique(), 1) if lane in runs.columns else 1


def _day_hour_grid(
    preview: pl.DataFrame, timezone: str, start: datetime | None, end: datetime | None
) -> tuple[list[date], np.ndarray]:
    """Run counts per local (day, hour), every day of the covered range included.

    With a window, the range is the window's, and hours wholly outside it are NaN.
    """
    local = preview.select(pl.col("scheduled_time").dt.convert_time_zone(timezone).alias("t"))
    counts = local.group_by(day=pl.col("t").dt.date(), hour=pl.col("t").dt.hour()).len()
    if start is None or end is None:
        if preview.is_empty():
            return [], np.zeros((0, 24), dtype=np.int64)
        first: date = counts["day"].min()  # type: ignore[assignment]
        last: date = counts["day"].max()  # type: ignore[assignment]
    else:
        window = pl.Series([start, end]).dt.convert_time_zone(timezone)
        first, last = window[0].date(), window[1].date()
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    grid = np.zeros((len(days), 24), dtype=np.float64 if start is not None and end is not None else np.int64)
    if start is not None and end is not None:
        hours = pl.datetime_range(
            datetime.combine(first, datetime.min.time()),
            datetime.combine(last, datetime.min.time()) + timedelta(hours=23),
            "1h",
            eager=True,
        )
        starts = hours.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        inside = ((starts + timedelta(hours=1) > start) & (starts <= end)).fill_null(False).to_numpy()
        grid[~inside.reshape(len(days), 24)] = np.nan
    rows = counts.with_columns(row=(pl.col("day") - first).dt.total_days()).filter(
        pl.col("row").is_between(0, len(days) - 1)
    )
    grid[rows["row"].to_numpy(), rows["hour"].to_numpy()] = rows["len"].to_numpy()
    return days, grid


# Run history (deploykit.history's frames)

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
        _no_runs(ax)
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
    ax = _axes(figure, title, "day (UTC)")
    if known.is_empty():
        _no_runs(ax)
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


def _axes(figure: Figure, title: str, xlabel: str) -> Axes:
    """The figure's one plot, titled, with its x axis label."""
    ax = figure.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return ax


def _noted(title: str, runs: pl.DataFrame) -> str:
    """The title, and a second line when ``preview_runs`` cut some schedules at ``max_runs``.

    A capped preview draws a drop where the cap starts (issue 13 item 1): the figure says
    so rather than showing it as load.
    """
    if "truncated" not in runs.columns or not runs["truncated"].any():
        return title
    cut = runs.filter("truncated").get_column("deployment_id").n_unique()
    return f"{title}\nincomplete: {cut} deployment(s) cut at max_runs; preview with max_runs=None"


def _no_runs(ax: Axes) -> None:
    """Say on an empty chart that the window has no runs (and show no y ticks)."""
    ax.text(0.5, 0.5, "no runs in this window", ha="center", va="center", transform=ax.transAxes)
    ax.set_yticks([])


def _date_axis(ax: object) -> None:
    """Short, non-overlapping date labels on the x axis (matplotlib's concise formatter)."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[attr-defined]
