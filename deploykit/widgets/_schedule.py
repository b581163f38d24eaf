"""SchedulePreview: a schedule in words, its upcoming runs, and the fleet's hourly load.

The schedule comes from a deployment or is typed (cron, interval, rrule + time zone)
and is validated by the schema models; a bad one shows their message in an error box.
Runs come from the schedule's ``occurrences`` (one schedule) and from
``preview_runs`` + ``deploykit.scheduling`` (the fleet): nothing is computed here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import available_timezones

import ipywidgets as widgets
import polars as pl
from pydantic import ValidationError

from deploykit import plots
from deploykit.models.deployments import MAX_PREVIEW_WINDOW, preview_runs, read_deployment
from deploykit.scheduling import DST_SCHEMA, RUNS_SCHEMA, busiest_windows, schedule_dst_effects, upcoming_runs
from deploykit.schemas.schedules import Schedule, typed_schedule
from deploykit.store import Store
from deploykit.widgets import _html
from deploykit.widgets._picker import DeploymentPicker

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SOURCES = ("deployment", "cron", "interval", "rrule")
BUSIEST = 5
"""How many of the busiest hours the fleet view names."""
BUSIEST_NAMES = 8
"""How many deployment names each busiest hour lists (the count is in ``runs``)."""

_PLACEHOLDERS = {
    "deployment": "",
    "cron": "0 9 * * mon-fri",
    "interval": "6h, 90m, 1d 12h or seconds (3600)",
    "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9",
}


def error_message(exc: ValueError) -> str:
    """A validation error as short lines ``field: message`` (no traceback, no URLs).

    Examples
    --------
    >>> from deploykit import CronSchedule
    >>> try:
    ...     CronSchedule(cron="0 9 * * *", timezone="Mars/Olympus")
    ... except ValidationError as exc:
    ...     print(error_message(exc))
    timezone: Value error, unknown timezone 'Mars/Olympus'...
    """
    if isinstance(exc, ValidationError):
        return "\n".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'schedule'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


class SchedulePreview(widgets.VBox):
    """Preview a deployment's or a typed schedule's runs, and the fleet's hourly load.

    Parameters
    ----------
    store
        The store whose deployments can be picked and whose fleet load is shown.
    start
        The first day shown (default: today, UTC).

    Attributes
    ----------
    schedule
        The schedule shown (``None`` for a deployment without one, or on bad input).
    runs : polars.DataFrame
        Its upcoming runs (see :func:`deploykit.scheduling.upcoming_runs`).
    figure : matplotlib.figure.Figure | None
        The timeline of :attr:`runs`.
    error : str | None
        The validation message shown for bad input.
    paused : bool
        The picked deployment's schedule is paused: it creates no runs, so none are listed.
    dst : polars.DataFrame
        Where DST changes the runs shown ("Where DST changes my runs"): moved, merged and
        doubled wall times, as :func:`deploykit.scheduling.schedule_dst_effects` lists them.
    fleet : polars.DataFrame
        ``preview_runs`` of the deployments the search box selects, over the window.
    busiest : polars.DataFrame
        The busiest hours of :attr:`fleet` (``period``, ``runs``, ``deployments``).
    fleet_figure : matplotlib.figure.Figure | None
        The fleet's runs per (day, hour) heatmap.

    Examples
    --------
    >>> import deploykit as dk
    >>> preview = SchedulePreview(dk.Store(), start=date(2023, 3, 11))
    >>> preview.source.value = "cron"
    >>> preview.expression.value = "30 2 * * *"
    >>> preview.timezone.value = "America/New_York"
    >>> preview.count.value = 2
    >>> preview.runs["local_time"].dt.hour().to_list(), preview.runs["dst_adjusted"].to_list()
    ([2, 3], [False, True])
    """

    def __init__(self, store: Store, *, start: date | None = None) -> None:
        self._store = store
        self.schedule: Schedule | None = None
        self.runs = pl.DataFrame(schema=RUNS_SCHEMA)
        self.figure: Figure | None = None
        self.error: str | None = None
        self.paused = False
        self.dst = pl.DataFrame(schema=DST_SCHEMA).drop("id")
        self.fleet = pl.DataFrame()
        self.busiest = pl.DataFrame()
        self.fleet_figure: Figure | None = None

        self.source = _html.styled(
            widgets.ToggleButtons(options=SOURCES, description="Schedule"), "dk-source"
        )
        self.picker = DeploymentPicker(store)
        self.expression = _html.styled(
            widgets.Text(description="Expression", continuous_update=False), "dk-expression"
        )
        self.timezone = _html.styled(
            widgets.Combobox(
                options=sorted(available_timezones()),
                value="UTC",
                description="Time zone",
                ensure_option=False,
            ),
            "dk-timezone",
        )
        self.start = _html.styled(
            widgets.DatePicker(description="From", value=start or datetime.now(UTC).date()), "dk-start"
        )
        self.mode = _html.styled(
            widgets.ToggleButtons(options=[("next N runs", "count"), ("time window", "window")]), "dk-mode"
        )
        self.count = _html.styled(
            widgets.BoundedIntText(value=10, min=1, max=1000, description="Runs"), "dk-count"
        )
        self.days = _html.styled(
            widgets.BoundedIntText(value=7, min=1, max=MAX_PREVIEW_WINDOW.days, description="Days"), "dk-days"
        )
        self.error_html = _html.styled(widgets.HTML(), "dk-error-pane")
        self.describe_html = _html.styled(widgets.HTML(), "dk-describe")
        self.runs_html = _html.styled(widgets.HTML(), "dk-runs")
        self.dst_html = _html.styled(widgets.HTML(), "dk-dst")
        self.timeline = _html.styled(widgets.Image(format="png"), "dk-timeline")
        self.fleet_html = _html.styled(widgets.HTML(), "dk-fleet")
        self.heatmap = _html.styled(widgets.Image(format="png"), "dk-heatmap")
        self.busiest_html = _html.styled(widgets.HTML(), "dk-busiest")
        self._typed = widgets.HBox([self.expression, self.timezone])
        super().__init__(
            [
                self.source,
                self.picker,
                self._typed,
                widgets.HBox([self.start, self.mode, self.count, self.days]),
                self.error_html,
                self.describe_html,
                self.runs_html,
                self.dst_html,
                self.timeline,
                widgets.HTML("<h4>Fleet load: the deployments matching the search, over the window</h4>"),
                self.fleet_html,
                self.heatmap,
                self.busiest_html,
            ]
        )
        self.add_class("dk-schedule-preview")
        for control in [self.source, self.expression, self.timezone, self.mode, self.count]:
            control.observe(lambda _: self.refresh_schedule(), names="value")
        self.picker.on_change(self.refresh_schedule)
        self.picker.search.observe(lambda _: self.refresh_fleet(), names="value")
        for control in [self.start, self.days]:
            control.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    def refresh(self) -> None:
        """Recompute the single-schedule view and the fleet view."""
        self.refresh_schedule()
        self.refresh_fleet()

    def refresh_schedule(self) -> None:
        """Recompute the schedule, its runs and timeline from the controls."""
        typed = self.source.value != "deployment"
        self._typed.layout.display = None if typed else "none"
        self.expression.placeholder = _PLACEHOLDERS[self.source.value]
        self.count.layout.display = None if self.mode.value == "count" else "none"
        start = datetime.combine(self.start.value or datetime.now(UTC).date(), time())
        self.paused = False
        try:
            self.schedule = self._chosen_schedule(start)
            if self.schedule is None:
                self._show_runs(None, "This deployment has no schedule." if self.picker.value else "")
                return
            if self.paused:
                self._show_runs(
                    None,
                    f"{self.schedule.describe()}. The schedule is paused: it creates no runs until "
                    "it is resumed, so none are listed.",
                )
                return
            window = self.mode.value == "window"
            end = start + timedelta(days=self.days.value) - timedelta(microseconds=1)
            self.runs = upcoming_runs(
                self.schedule, start, count=None if window else self.count.value, end=end if window else None
            )
        except ValueError as exc:
            self.schedule = None
            self._show_runs(error_message(exc), "")
            return
        self._show_runs(None, self.schedule.describe())

    def refresh_fleet(self) -> None:
        """Recompute the fleet's runs per hour and its busiest hours."""
        start = datetime.combine(self.start.value or datetime.now(UTC).date(), time(), UTC)
        end = start + timedelta(days=self.days.value) - timedelta(microseconds=1)
        # every run of the window: a count or heatmap cut at a per-deployment cap would lie
        self.fleet = preview_runs(
            self._store, start, end, deployment_filter=self.picker.filter, max_runs=None
        )
        per_deployment = self.fleet["deployment_id"].n_unique() if self.fleet.height else 0
        text = (
            f"{self.fleet.height} runs of {per_deployment} deployments from {start:%Y-%m-%d} "
            f"to {end:%Y-%m-%d} (UTC)"
        )
        self.fleet_html.value = _html.note(text)
        if self.fleet.is_empty():
            self.busiest = pl.DataFrame()
            self.fleet_figure = None
            self.heatmap.layout.display = "none"
            self.busiest_html.value = ""
            return
        busiest = busiest_windows(self.fleet, every="1h", top=BUSIEST, by=None)
        names = (
            self.fleet.with_columns(period=pl.col("scheduled_time").dt.truncate("1h"))
            .group_by("period")
            .agg(deployments=pl.col("deployment_name").unique().sort())
        )
        self.busiest = busiest.join(names, on="period", how="left", maintain_order="left")
        self.fleet_figure = plots.load_heatmap(self.fleet, start=start, end=end)
        _html.show_png(self.heatmap, plots.to_png(self.fleet_figure))
        shown = self.busiest.select(
            pl.col("period").alias("hour starting"),
            "runs",
            pl.col("deployments").list.head(BUSIEST_NAMES).alias("deployments (first by name)"),
        )
        self.busiest_html.value = "<b>Busiest hours (UTC)</b>" + _html.table(
            shown, css_class="dk-busiest-table"
        )

    def _chosen_schedule(self, start: datetime) -> Schedule | None:
        if self.source.value != "deployment":
            return typed_schedule(self.source.value, self.expression.value, self.timezone.value, start)
        dep_id = self.picker.value
        deployment = None if dep_id is None else read_deployment(self._store, dep_id)
        if deployment is None:
            return None
        self.paused = deployment.schedule is not None and not deployment.is_schedule_active
        return deployment.schedule

    def _show_runs(self, error: str | None, description: str) -> None:
        self.error = error
        self.error_html.value = "" if error is None else _html.error_box(error)
        self.describe_html.value = _html.note(description, css_class="dk-description") if description else ""
        self.dst = pl.DataFrame(schema=DST_SCHEMA).drop("id")
        self.dst_html.value = ""
        if error is not None or self.schedule is None or self.paused:
            self.runs = pl.DataFrame(schema=RUNS_SCHEMA)
            self.figure = None
            self.runs_html.value = ""
            self.timeline.layout.display = "none"
            return
        zone = self.schedule.zone_name
        shown = self.runs.select(
            pl.int_range(1, pl.len() + 1).alias("#"),
            pl.col("scheduled_time").alias("UTC"),
            pl.col("local_time").alias(f"local ({zone})"),
            pl.when("dst_adjusted").then(pl.lit("DST-adjusted")).otherwise(pl.lit("")).alias("DST"),
        )
        self.runs_html.value = _html.table(shown, css_class="dk-runs-table", empty="No runs in this window.")
        self._show_dst(zone)
        self.figure = plots.schedule_timeline(self.runs)
        _html.show_png(self.timeline, plots.to_png(self.figure))

    def _show_dst(self, zone: str) -> None:
        """ "Where DST changes my runs": the effects between the first and the last run shown."""
        if self.schedule is None or self.runs.is_empty():
            return
        first, last = self.runs["scheduled_time"].min(), self.runs["scheduled_time"].max()
        self.dst = schedule_dst_effects(self.schedule, first, last)  # type: ignore[arg-type]
        if self.dst.is_empty():
            self.dst_html.value = _html.note(f"No DST change in {zone} moves, merges or doubles these runs.")
            return
        shown = self.dst.select(
            pl.col("effect"),
            pl.col("wall_time").alias(f"wall time ({zone})"),
            pl.col("scheduled_time").alias("runs at (UTC)"),
            pl.col("note").alias("what happens"),
        )
        self.dst_html.value = "<b>Where DST changes my runs</b>" + _html.table(
            shown, css_class="dk-dst-table"
        )
