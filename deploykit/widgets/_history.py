"""RunHistory: which deployments are healthy, failing or late, and how one of them ran.

A thin view over :mod:`deploykit.history`: the health table is ``deployment_health``
for the window and filters of the controls (sorted and cut in Polars, shown a page at
a time); the selected deployment's figures come from ``run_metrics``, ``recent_runs``
and the run-history plots.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ipywidgets as widgets
import polars as pl
from matplotlib.figure import Figure

from deploykit import plots as history_plots
from deploykit.history import STATUSES, deployment_health, recent_runs, run_metrics
from deploykit.plots import to_png
from deploykit.store import Store
from deploykit.widgets import _html
from deploykit.widgets._browser import browser_filters

WINDOWS = {"last 7 days": 7, "last 30 days": 30, "last 90 days": 90, "all time": None}
"""Window choices, in days before ``as_of``."""
SORTS = {
    "most urgent first": (["_urgency", "failure_streak", "late_now"], [False, True, True]),
    "lowest success rate": (["success_rate"], [False]),
    "longest failure streak": (["failure_streak"], [True]),
    "slowest (p95 duration)": (["duration_p95"], [True]),
    "latest (p95 lateness)": (["lateness_p95"], [True]),
    "name": (["flow_name", "deployment_name"], [False, False]),
}
ROWS = 25
"""Deployments shown in the table and the selector."""
RECENT = 200
"""Runs of the selected deployment drawn in the figures."""
_SHOWN = {
    "flow_name": "flow",
    "deployment_name": "deployment",
    "status": "status",
    "runs": "runs",
    "success_rate": "success",
    "failure_streak": "failing in a row",
    "last_state_type": "last state",
    "duration_p50": "duration p50 (s)",
    "duration_p95": "duration p95 (s)",
    "lateness_p95": "lateness p95 (s)",
    "late_now": "late now",
}


class RunHistory(widgets.VBox):
    """The fleet's run history: a deployment health table and one deployment's runs.

    Parameters
    ----------
    store
        The store to read.
    as_of
        "Now" for windows and lateness; ``None`` means the current time.
    window
        One of :data:`WINDOWS`' keys.

    Attributes
    ----------
    health : polars.DataFrame
        ``deployment_health`` for the controls' window and filters, status-filtered and sorted.
    selected : str or None
        The id of the deployment whose runs are shown.
    runs : polars.DataFrame
        Its newest runs (``recent_runs``).
    metrics : polars.DataFrame
        Its duration per period (``run_metrics``), the data of :attr:`figure`.
    figure, timeline_figure, lateness_figure : Figure or None
        Duration over time with the p50-p95 band, the state timeline, lateness over time.

    Examples
    --------
    >>> import deploykit as dk
    >>> view = RunHistory(dk.Store())
    >>> view.health.height, view.selected, view.figure
    (0, None, None)
    """

    def __init__(self, store: Store, *, as_of: datetime | None = None, window: str = "last 30 days") -> None:
        self._store = store
        self._as_of = as_of
        self.health = pl.DataFrame()
        self.selected: str | None = None
        self.runs = pl.DataFrame()
        self.metrics = pl.DataFrame()
        self.figure: Figure | None = None
        self.timeline_figure: Figure | None = None
        self.lateness_figure: Figure | None = None
        self._all = pl.DataFrame()
        self._offering = False
        self._stale = True

        self.window_dropdown = _html.styled(
            widgets.Dropdown(options=list(WINDOWS), value=window, description="Window"), "dk-window"
        )
        self.name_text = _html.styled(
            widgets.Text(description="Name", placeholder="contains…", continuous_update=False), "dk-name"
        )
        self.flow_dropdown = _html.styled(
            widgets.Dropdown(options=[("any", "")], description="Flow"), "dk-flow"
        )
        self.pool_dropdown = _html.styled(
            widgets.Dropdown(options=[("any", "")], description="Work pool"), "dk-pool"
        )
        self.status_dropdown = _html.styled(
            widgets.Dropdown(options=["any", *STATUSES], description="Status"), "dk-status"
        )
        self.sort_dropdown = _html.styled(
            widgets.Dropdown(options=list(SORTS), description="Sort"), "dk-sort"
        )
        self.summary_html = _html.styled(widgets.HTML(), "dk-summary")
        self.table_html = _html.styled(widgets.HTML(), "dk-health")
        self.deployment_select = _html.styled(
            widgets.Select(description="Deployment", rows=8, layout={"width": "460px"}), "dk-select"
        )
        self.details_html = _html.styled(widgets.HTML(), "dk-details-pane")
        self.duration_image = _html.styled(widgets.Image(format="png"), "dk-duration")
        self.timeline_image = _html.styled(widgets.Image(format="png"), "dk-timeline")
        self.lateness_image = _html.styled(widgets.Image(format="png"), "dk-lateness")
        super().__init__(
            [
                widgets.HBox([self.window_dropdown, self.name_text, self.flow_dropdown]),
                widgets.HBox([self.pool_dropdown, self.status_dropdown, self.sort_dropdown]),
                self.summary_html,
                self.table_html,
                widgets.HBox([self.deployment_select, self.details_html]),
                self.duration_image,
                self.timeline_image,
                self.lateness_image,
            ]
        )
        self.add_class("dk-run-history")
        for control in [self.window_dropdown, self.name_text, self.flow_dropdown, self.pool_dropdown]:
            control.observe(lambda _: self.refresh(), names="value")
        for control in [self.status_dropdown, self.sort_dropdown]:
            control.observe(lambda _: self._show_health(), names="value")
        self.deployment_select.observe(lambda _: self._show_selected(), names="value")
        self.refresh()

    @property
    def as_of(self) -> datetime:
        """The instant taken as now."""
        return self._as_of or datetime.now(UTC)

    @property
    def since(self) -> datetime | None:
        """The window's start (``None``: all time)."""
        days = WINDOWS[self.window_dropdown.value]
        return None if days is None else self.as_of - timedelta(days=days)

    @property
    def filters(self) -> dict[str, Any]:
        """The deployment filters of the controls (as ``read_deployments`` takes them)."""
        return browser_filters(
            name=self.name_text.value,
            flow=self.flow_dropdown.value or None,
            work_pool=self.pool_dropdown.value or None,
        )

    def refresh(self) -> None:
        """Re-read the health of the deployments for the window and filters."""
        if self._offering:
            return
        self._all = deployment_health(self._store, since=self.since, as_of=self.as_of, **self.filters)
        self._stale = True  # the window may have changed: redraw the selection even if it stays
        self._offering = True
        try:
            _offer(self.flow_dropdown, self._all["flow_name"])
            _offer(self.pool_dropdown, self._all["work_pool_name"])
        finally:
            self._offering = False
        self._show_health()

    def select(self, deployment_id: str) -> None:
        """Show the runs of ``deployment_id`` (it must be in the table)."""
        self.deployment_select.value = deployment_id

    def _show_health(self) -> None:
        status = self.status_dropdown.value
        health = self._all if status == "any" else self._all.filter(pl.col("status") == status)
        columns, descending = SORTS[self.sort_dropdown.value]
        urgency = pl.col("status").replace_strict(
            {s: i for i, s in enumerate(STATUSES)}, return_dtype=pl.Int64
        )
        self.health = (
            health.with_columns(_urgency=urgency)
            .sort(
                [*columns, "flow_name", "deployment_name"],
                descending=[*descending, False, False],
                nulls_last=True,
            )
            .drop("_urgency")
        )
        counts = self._all["status"].value_counts()
        told = ", ".join(f"{n} {s}" for s in STATUSES for st, n in counts.rows() if st == s)
        self.summary_html.value = _html.note(
            f"{self._all.height} deployments ({told}); showing {min(ROWS, self.health.height)} of "
            f"{self.health.height}. Window: {self.window_dropdown.value} "
            f"up to {self.as_of:%Y-%m-%d %H:%M} UTC."
            if self._all.height
            else "No deployment matches these filters."
        )
        page = self.health.head(ROWS)
        self.table_html.value = _html.table(
            page.select(list(_SHOWN)).with_columns(pl.col(pl.Float64).round(2)).rename(_SHOWN),
            empty="No deployments.",
        )
        options = [(f"{d} ({f}) — {s}", i) for i, d, f, s in page.select(
            "deployment_id", "deployment_name", "flow_name", "status").rows()]  # fmt: skip
        keep = (
            self.deployment_select.value if self.deployment_select.value in {v for _, v in options} else None
        )
        self.deployment_select.options = options
        self.deployment_select.value = keep if keep is not None else (options[0][1] if options else None)
        self._show_selected()

    def _show_selected(self) -> None:
        chosen = self.deployment_select.value
        if chosen == self.selected and not self._stale:
            return
        self.selected, self._stale = chosen, False
        if chosen is None:
            self.runs, self.metrics = pl.DataFrame(), pl.DataFrame()
            self.figure = self.timeline_figure = self.lateness_figure = None
            self.details_html.value = _html.note("Select a deployment to see its runs.")
            for image in (self.duration_image, self.timeline_image, self.lateness_image):
                image.layout.display = "none"
            return
        only = {"deployment_filter": {"id": {"any_": [chosen]}}}
        every = "1d" if self.since is not None else "1w"
        window = {"since": self.since, "as_of": self.as_of}
        self.runs = recent_runs(self._store, limit=RECENT, **window, **only)
        self.metrics = run_metrics(self._store, "duration", every=every, **window, **only)
        lateness = run_metrics(self._store, "lateness", every=every, **window, **only)
        row = self._all.filter(pl.col("deployment_id") == chosen).row(0, named=True)
        name = f"{row['flow_name']}/{row['deployment_name']}"
        self.figure = history_plots.duration_over_time(
            self.metrics, runs=self.runs, title=f"Duration of {name}"
        )
        self.timeline_figure = history_plots.state_timeline(self.runs, title=f"Recent runs of {name}")
        self.lateness_figure = history_plots.duration_over_time(
            lateness, runs=self.runs, metric="lateness", title=f"Lateness of {name}"
        )
        self.details_html.value = _html.fields(
            {
                "deployment": name,
                "status": row["status"],
                "runs in window": row["runs"],
                "success rate": None if row["success_rate"] is None else f"{row['success_rate']:.0%}",
                "failing in a row": row["failure_streak"],
                "last state": row["last_state_type"],
                "late now": row["late_now"],
                "work queue": f"{row['work_pool_name'] or '?'}/{row['work_queue_name'] or '?'}",
            }
        )
        _html.show_png(self.duration_image, to_png(self.figure))
        _html.show_png(self.timeline_image, to_png(self.timeline_figure))
        _html.show_png(self.lateness_image, to_png(self.lateness_figure))


def _offer(dropdown: widgets.Dropdown, names: pl.Series) -> None:
    """Offer the distinct non-null ``names`` (and "any"), keeping the current choice."""
    current = dropdown.value
    choices = sorted(set(names.drop_nulls().to_list()) | ({current} if current else set()))
    dropdown.options = [("any", ""), *((n, n) for n in choices)]
    dropdown.value = current
