"""DeploymentBrowser: filter, sort and page through deployments; inspect one.

Each state of the controls maps to filter objects of :mod:`deploykit.filters`
(:attr:`DeploymentBrowser.filters`); the page is fetched with ``read_deployments``
(limit / offset in DuckDB) and the total with ``count_deployments``, so only one page
of rows ever reaches the widgets, whatever the size of the store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import polars as pl
from pydantic import BaseModel

from deploykit.filters import (
    DeploymentFilter,
    DeploymentFilterIsScheduleActive,
    DeploymentFilterName,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterName,
    WorkPoolFilter,
    WorkPoolFilterName,
    WorkQueueFilter,
    WorkQueueFilterName,
)
from deploykit.models.deployments import (
    check_work_queues_for_deployment,
    count_deployments,
    read_deployment,
    read_deployments,
)
from deploykit.models.flows import read_flows
from deploykit.models.work_pools import read_work_pool
from deploykit.models.work_queues import read_work_queue, read_work_queues
from deploykit.schemas.core import Deployment
from deploykit.schemas.sorting import DeploymentSort
from deploykit.store import Store
from deploykit.widgets import _code, _html

PAGE_SIZES = (10, 25, 50, 100)
NEXT_RUNS = 5
"""How many upcoming runs the details pane lists."""
PAUSED_RUNS = "none: the schedule is paused, it creates no runs until it is resumed"
"""What the details pane says instead of the next runs of a paused schedule."""
LEGACY_MATCHES = "legacy queue filter admits (Prefect 2 agents)"
"""The details entry for the queues whose legacy filter admits the deployment: Prefect 2
agents polling those queues would take its runs, but workers read the assigned queue only."""

_SORTS = [
    ("name A→Z", DeploymentSort.NAME_ASC),
    ("name Z→A", DeploymentSort.NAME_DESC),
    ("newest first", DeploymentSort.CREATED_DESC),
    ("recently updated", DeploymentSort.UPDATED_DESC),
]
_ACTIVE = {"any": None, "active": True, "paused": False}
"""Schedule dropdown choices; a dropdown value of ``None`` would show as blank."""
_SHOWN = {
    "name": "name",
    "flow_name": "flow",
    "tags": "tags",
    "schedule_type": "schedule",
    "is_schedule_active": "active",
    "work_queue_name": "work queue",
    "updated": "updated",
}


def browser_filters(
    *,
    name: str = "",
    tags: str = "",
    flow: str | None = None,
    work_pool: str | None = None,
    work_queue: str | None = None,
    schedule_active: bool | None = None,
) -> dict[str, BaseModel]:
    """The ``read_deployments`` filter arguments that a browser's controls stand for.

    Parameters
    ----------
    name
        Substring of the deployment name (case-insensitive); blank means any.
    tags
        Comma-separated tags the deployment must all carry.
    flow, work_pool, work_queue
        Exact names; ``None`` means any.
    schedule_active
        ``True`` / ``False`` to require an active / paused schedule.

    Returns
    -------
    dict
        Keyword arguments (``deployment_filter``, ``flow_filter``, ``work_pool_filter``,
        ``work_queue_filter``), only those that restrict something.

    Examples
    --------
    >>> f = browser_filters(name="etl", tags="prod, ml", work_pool="k8s")
    >>> sorted(f), f["deployment_filter"].tags.all_
    (['deployment_filter', 'work_pool_filter'], ['prod', 'ml'])
    >>> browser_filters()
    {}
    """
    deployment: dict[str, BaseModel] = {}
    if name.strip():
        deployment["name"] = DeploymentFilterName(like_=name.strip())
    tag_list = [t.strip() for t in tags.split(",") if t.strip()]
    if tag_list:
        deployment["tags"] = DeploymentFilterTags(all_=tag_list)
    if schedule_active is not None:
        deployment["is_schedule_active"] = DeploymentFilterIsScheduleActive(eq_=schedule_active)
    found: dict[str, BaseModel] = {}
    if deployment:
        found["deployment_filter"] = DeploymentFilter(**deployment)
    if flow is not None:
        found["flow_filter"] = FlowFilter(name=FlowFilterName(any_=[flow]))
    if work_pool is not None:
        found["work_pool_filter"] = WorkPoolFilter(name=WorkPoolFilterName(any_=[work_pool]))
    if work_queue is not None:
        found["work_queue_filter"] = WorkQueueFilter(name=WorkQueueFilterName(any_=[work_queue]))
    return found


class DeploymentBrowser(widgets.VBox):
    """Browse a store's deployments with filters, sorting and paging.

    Parameters
    ----------
    store
        The store to browse.
    page_size
        Rows per page (one of 10, 25, 50, 100).
    now
        The instant "next runs" count from; ``None`` means the current time.

    Attributes
    ----------
    filters : dict
        The filter keyword arguments of the current controls (see :func:`browser_filters`).
    results : polars.DataFrame
        The current page, as ``read_deployments`` returns it.
    total : int
        How many deployments match the filters (all pages).
    code : str
        The equivalent call, ``read_deployments(store, ...)``, to copy into code.
    imports : str
        The import lines :attr:`code` needs.
    details : dict
        What the details pane shows for the selected deployment.

    Examples
    --------
    >>> import deploykit as dk
    >>> browser = DeploymentBrowser(dk.Store())
    >>> browser.total, browser.code
    (0, 'read_deployments(store, offset=0, limit=25, sort=DeploymentSort.NAME_ASC)')
    """

    def __init__(self, store: Store, *, page_size: int = 25, now: datetime | None = None) -> None:
        self._store = store
        self._now = now
        self.page = 0
        self.filters: dict[str, BaseModel] = {}
        self.results = pl.DataFrame()
        self.total = 0
        self.code = ""
        self.imports = ""
        self.details: dict[str, Any] = {}

        options = _names(store)
        self.name_text = _text("Name", "contains…", "dk-name")
        self.tags_text = _text("Tags", "all of: prod, etl", "dk-tags")
        self.flow_dropdown = _dropdown("Flow", options["flow"], "dk-flow")
        self.pool_dropdown = _dropdown("Work pool", options["work_pool"], "dk-pool")
        self.queue_dropdown = _dropdown("Work queue", options["work_queue"], "dk-queue")
        self.active_dropdown = _html.styled(
            widgets.Dropdown(options=list(_ACTIVE), description="Schedule"), "dk-active"
        )
        self.sort_dropdown = _html.styled(widgets.Dropdown(options=_SORTS, description="Sort"), "dk-sort")
        self.page_size_dropdown = _html.styled(
            widgets.Dropdown(options=PAGE_SIZES, value=page_size, description="Page size"), "dk-page-size"
        )
        self.prev_button = _html.styled(
            widgets.Button(description="◀ Prev", layout={"width": "90px"}), "dk-prev"
        )
        self.next_button = _html.styled(
            widgets.Button(description="Next ▶", layout={"width": "90px"}), "dk-next"
        )
        self.summary_html = _html.styled(widgets.HTML(), "dk-summary")
        self.table_html = _html.styled(widgets.HTML(), "dk-results")
        self.deployment_select = _html.styled(
            widgets.Select(description="Details", rows=8, layout={"width": "420px"}), "dk-select"
        )
        self.details_html = _html.styled(
            widgets.HTML(_html.note("Select a deployment to see its details.")), "dk-details-pane"
        )
        self.code_html = _html.styled(widgets.HTML(), "dk-code-pane")

        super().__init__(
            [
                widgets.HBox([self.name_text, self.tags_text, self.flow_dropdown]),
                widgets.HBox([self.pool_dropdown, self.queue_dropdown, self.active_dropdown]),
                widgets.HBox([self.sort_dropdown, self.page_size_dropdown]),
                widgets.HBox([self.prev_button, self.next_button, self.summary_html]),
                self.table_html,
                widgets.HBox([self.deployment_select, self.details_html]),
                widgets.HTML("<b>The same query in Python</b>"),
                self.code_html,
            ]
        )
        self.add_class("dk-browser")
        for control in [
            self.name_text,
            self.tags_text,
            self.flow_dropdown,
            self.pool_dropdown,
            self.queue_dropdown,
            self.active_dropdown,
            self.sort_dropdown,
            self.page_size_dropdown,
        ]:
            control.observe(self._on_filter_change, names="value")
        self.prev_button.on_click(lambda _: self.go_to(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to(self.page + 1))
        self.deployment_select.observe(lambda _: self._show_details(), names="value")
        self.refresh()

    @property
    def pages(self) -> int:
        """The number of pages (at least 1)."""
        return max(1, math.ceil(self.total / self.page_size_dropdown.value))

    def go_to(self, page: int) -> None:
        """Show page ``page`` (0-based), clamped to the existing pages."""
        self.page = min(max(page, 0), self.pages - 1)
        self.refresh()

    def refresh(self) -> None:
        """Re-run the count and the page query for the current controls."""
        self.filters = browser_filters(
            name=self.name_text.value,
            tags=self.tags_text.value,
            flow=self.flow_dropdown.value or None,
            work_pool=self.pool_dropdown.value or None,
            work_queue=self.queue_dropdown.value or None,
            schedule_active=_ACTIVE[self.active_dropdown.value],
        )
        self.total = count_deployments(self._store, **self.filters)  # type: ignore[arg-type]
        self.page = min(self.page, self.pages - 1)
        size = self.page_size_dropdown.value
        query: dict[str, Any] = {"offset": self.page * size, "limit": size, **self.filters}
        query["sort"] = self.sort_dropdown.value
        self.results = read_deployments(self._store, **query)
        self.code = _code.call("read_deployments", "store", query)
        self._render(query)

    def _on_filter_change(self, _change: object) -> None:
        self.page = 0
        self.refresh()

    def _render(self, query: dict[str, Any]) -> None:
        first = self.page * self.page_size_dropdown.value
        shown = self.results  # read_deployments carries flow_name
        self.summary_html.value = _html.note(
            f"{first + 1}–{first + shown.height} of {self.total} deployments "
            f"(page {self.page + 1} of {self.pages})"
            if self.total
            else "No deployment matches these filters."
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1
        self.table_html.value = _html.table(
            shown.select(list(_SHOWN)).rename(_SHOWN), empty="No deployments."
        )
        filter_classes = [n for n in _code.class_names(query) if n != "DeploymentSort"]
        self.imports = "from deploykit import DeploymentSort\n"
        self.imports += "from deploykit.models.deployments import read_deployments\n"
        if filter_classes:
            self.imports += f"from deploykit.filters import {', '.join(filter_classes)}\n"
        self.code_html.value = _html.code_block(f"{self.imports}\n{self.code}")
        options = [
            (f"{name} ({flow})", dep_id)
            for dep_id, name, flow in shown.select("id", "name", "flow_name").rows()
        ]
        self.deployment_select.options = options  # keeps the selection if still on the page
        if self.deployment_select.value is None and options:
            self.deployment_select.value = options[0][1]

    def _show_details(self) -> None:
        dep_id = self.deployment_select.value
        deployment = None if dep_id is None else read_deployment(self._store, dep_id)
        if deployment is None:
            self.details = {}
            self.details_html.value = _html.note("Select a deployment to see its details.")
            return
        schedule = deployment.schedule
        now = self._now or datetime.now(UTC)
        queues = check_work_queues_for_deployment(self._store, deployment.id)
        if schedule is None:
            next_runs: list[str] | str = []
        elif not deployment.is_schedule_active:
            next_runs = PAUSED_RUNS
        else:
            next_runs = [d.isoformat() for d in schedule.get_dates(NEXT_RUNS, start=now)]
        destination, status = _destination(self._store, deployment)
        self.details = {
            "name": deployment.name,
            "description": deployment.description,
            "version": deployment.version,
            "tags": deployment.tags,
            "parameters": deployment.parameters,
            "schedule": schedule.describe() if schedule else "no schedule",
            "schedule active": deployment.is_schedule_active,
            "next runs": next_runs,
            "work queue": deployment.work_queue_name,
            "picked up by": destination,
            "queue status": status,
            LEGACY_MATCHES: [f"{p}/{q}" for p, q in queues.select("work_pool_name", "name").rows()],
        }
        self.details_html.value = _html.fields(self.details)


def _destination(store: Store, deployment: Deployment) -> tuple[list[str], str]:
    """Where the deployment's runs go: its assigned ``pool/queue`` (its ``work_queue_id``),
    and whether that queue or its pool is paused."""
    queue = None if deployment.work_queue_id is None else read_work_queue(store, deployment.work_queue_id)
    if queue is None:
        return [], "no work queue assigned: no worker or agent is sent its runs"
    pool = None if queue.work_pool_id is None else read_work_pool(store, queue.work_pool_id)
    pool_name = pool.name if pool is not None else "?"
    if pool is not None and pool.is_paused:
        status = f"work pool {pool_name!r} is paused: its runs wait"
    elif queue.is_paused:
        status = f"work queue {queue.name!r} is paused: its runs wait"
    else:
        status = "active"
    return [f"{pool_name}/{queue.name}"], status


def _names(store: Store) -> dict[str, list[str]]:
    """Distinct flow, work pool and work queue names: the dropdowns' choices."""
    queues = read_work_queues(store)
    return {
        "flow": read_flows(store)["name"].unique().sort().to_list(),
        "work_pool": queues["work_pool_name"].unique().sort().to_list(),
        "work_queue": queues["name"].unique().sort().to_list(),
    }


def _text(label: str, placeholder: str, css: str) -> widgets.Text:
    return _html.styled(
        widgets.Text(description=label, placeholder=placeholder, continuous_update=False), css
    )


def _dropdown(label: str, names: list[str], css: str) -> widgets.Dropdown:
    return _html.styled(
        widgets.Dropdown(options=[("any", ""), *((n, n) for n in names)], description=label), css
    )
