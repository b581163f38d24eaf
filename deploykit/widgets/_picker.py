"""Choosing one deployment out of possibly 100,000: a name search plus a short list.

Shared by :class:`SchedulePreview` and :class:`QueueMatchInspector`. Only the first
``limit`` matches (by name) are fetched, with ``read_deployments``; the search text is
also the filter of the widget's fleet / matrix view.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from deploykit.filters import DeploymentFilter, DeploymentFilterName
from deploykit.models.deployments import count_deployments, read_deployments
from deploykit.store import Store


def name_filter(text: str) -> DeploymentFilter | None:
    """The deployment filter a name search box stands for (``None`` when empty).

    Examples
    --------
    >>> name_filter("  etl ").name.like_
    'etl'
    >>> name_filter("") is None
    True
    """
    text = text.strip()
    return DeploymentFilter(name=DeploymentFilterName(like_=text)) if text else None


class DeploymentPicker(widgets.HBox):
    """A "name contains" box and a dropdown of the first ``limit`` matching deployments.

    Attributes
    ----------
    search
        The name search box; its text is :attr:`filter`.
    dropdown
        The matching deployments, labelled ``flow/name``; its value is an id string.
    """

    def __init__(self, store: Store, *, limit: int = 200) -> None:
        self._store = store
        self._limit = limit
        self.search = widgets.Text(
            placeholder="name contains…", description="Search", continuous_update=False
        )
        self.dropdown = widgets.Dropdown(description="Deployment", layout={"width": "420px"})
        self.matches = widgets.HTML()
        self.search.add_class("dk-search")
        self.dropdown.add_class("dk-deployment")
        super().__init__([self.search, self.dropdown, self.matches])
        self.search.observe(lambda _: self.reload(), names="value")
        self.reload()

    @property
    def filter(self) -> DeploymentFilter | None:
        """The deployments the search box selects (``None``: all)."""
        return name_filter(self.search.value)

    @property
    def value(self) -> str | None:
        """The chosen deployment's id, or ``None`` when nothing matches."""
        return self.dropdown.value

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever the chosen deployment changes."""
        self.dropdown.observe(lambda _: callback(), names="value")

    def reload(self) -> None:
        """Re-read the matching deployments (first ``limit`` by name) into the dropdown."""
        found = read_deployments(self._store, limit=self._limit, deployment_filter=self.filter)
        rows = found.select("id", "name", "flow_name")
        options = [(f"{flow}/{name}", dep_id) for dep_id, name, flow in rows.rows()]
        self.dropdown.options = options  # keeps the choice if it still matches
        if self.dropdown.value is None and options:
            self.dropdown.value = options[0][1]
        total = count_deployments(self._store, deployment_filter=self.filter)
        shown = f"first {rows.height} of {total}" if total > rows.height else f"{total}"
        self.matches.value = f"<span class='dk-matches'>{shown} match{'es' if total != 1 else ''}</span>"
