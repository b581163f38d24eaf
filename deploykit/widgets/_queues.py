"""QueueMatchInspector: "why is my deployment not picked up?"

For one deployment, every work queue with each matching rule's verdict (from
``queue_matches``); for the deployments the search selects (the first
``matrix_limit`` by name, fetched with ``read_deployments``), a deployments x queues
matrix and its heatmap.
"""

from __future__ import annotations

import ipywidgets as widgets
import polars as pl
from matplotlib.figure import Figure

from deploykit import plots
from deploykit.filters import DeploymentFilter, DeploymentFilterId
from deploykit.models.deployments import queue_matches, read_deployments
from deploykit.store import Store
from deploykit.widgets import _html
from deploykit.widgets._picker import DeploymentPicker

MATRIX_LIMIT = 40
"""At most this many deployments (first by name) in the matrix view."""


def queue_matrix(matches: pl.DataFrame) -> pl.DataFrame:
    """``queue_matches`` rows as a matrix: one row per deployment, one column per queue.

    Columns are ``deployment_id``, ``deployment_name`` and ``<pool>/<queue>`` (True when
    that queue picks the deployment up).

    Examples
    --------
    >>> m = pl.DataFrame({"deployment_id": ["d1", "d1"], "deployment_name": ["a", "a"],
    ...     "work_pool_name": ["p", "p"], "work_queue_name": ["q1", "q2"], "matches": [True, False]})
    >>> queue_matrix(m).rows()
    [('d1', 'a', True, False)]
    """
    return (
        matches.with_columns(queue=pl.format("{}/{}", "work_pool_name", "work_queue_name"))
        .pivot(on="queue", index=["deployment_id", "deployment_name"], values="matches")
        .sort("deployment_name", "deployment_id")
    )


def verdict_summary(verdicts: pl.DataFrame) -> str:
    """One sentence: how many queues pick the deployment up, and why its own queue does not.

    Examples
    --------
    >>> v = pl.DataFrame({"work_pool_name": ["p", "p"], "work_queue_name": ["a", "b"],
    ...     "matches": [False, True], "assigned": [True, False], "missing_tags": [["prod"], []],
    ...     "deployment_id_match": [True, True], "flow_runner_match": [False, True]})
    >>> print(verdict_summary(v))
    Picked up by 1 of 2 work queues. Its own queue p/a does NOT pick it up: missing tags prod; \
    flow runner type not allowed.
    """
    picked = int(verdicts["matches"].sum())
    text = f"Picked up by {picked} of {verdicts.height} work queues."
    own = verdicts.filter("assigned")
    if own.is_empty():
        return text + " It is not assigned to any existing work queue."
    row = own.row(0, named=True)
    name = f"{row['work_pool_name']}/{row['work_queue_name']}"
    if row["matches"]:
        return text + f" Its own queue {name} picks it up."
    reasons = [f"missing tags {', '.join(row['missing_tags'])}"] if row["missing_tags"] else []
    if not row["deployment_id_match"]:
        reasons.append("not in the queue's deployment ids")
    if not row["flow_runner_match"]:
        reasons.append("flow runner type not allowed")
    return text + f" Its own queue {name} does NOT pick it up: {'; '.join(reasons)}."


class QueueMatchInspector(widgets.VBox):
    """Which work queues pick a deployment up, rule by rule; and a matrix for many.

    Parameters
    ----------
    store
        The store to inspect.
    matrix_limit
        At most this many deployments (first by name) in the matrix.

    Attributes
    ----------
    verdicts : polars.DataFrame
        ``queue_matches`` for the chosen deployment: one row per work queue with
        ``tags_match``, ``missing_tags``, ``deployment_id_match``, ``flow_runner_match``,
        ``assigned`` and the final ``matches``.
    matrix : polars.DataFrame
        :func:`queue_matrix` of the deployments the search selects.
    figure : matplotlib.figure.Figure | None
        The matrix heatmap.

    Examples
    --------
    >>> import deploykit as dk
    >>> inspector = QueueMatchInspector(dk.Store())
    >>> inspector.verdicts.height, inspector.matrix.height
    (0, 0)
    """

    def __init__(self, store: Store, *, matrix_limit: int = MATRIX_LIMIT) -> None:
        self._store = store
        self._limit = matrix_limit
        self.verdicts = pl.DataFrame()
        self.matrix = pl.DataFrame()
        self.figure: Figure | None = None
        self.picker = DeploymentPicker(store)
        self.summary_html = _html.styled(widgets.HTML(), "dk-verdict-summary")
        self.verdicts_html = _html.styled(widgets.HTML(), "dk-verdicts")
        self.matrix_html = _html.styled(widgets.HTML(), "dk-matrix-note")
        self.heatmap = _html.styled(widgets.Image(format="png"), "dk-matrix")
        super().__init__(
            [
                self.picker,
                self.summary_html,
                self.verdicts_html,
                widgets.HTML("<h4>Matrix: the deployments matching the search x every work queue</h4>"),
                self.matrix_html,
                self.heatmap,
            ]
        )
        self.add_class("dk-queue-inspector")
        self.picker.on_change(self.refresh_verdicts)
        self.picker.search.observe(lambda _: self.refresh_matrix(), names="value")
        self.refresh_verdicts()
        self.refresh_matrix()

    def refresh_verdicts(self) -> None:
        """Recompute every queue's verdict for the chosen deployment."""
        dep_id = self.picker.value
        if dep_id is None:
            self.verdicts = pl.DataFrame()
            self.summary_html.value = _html.note("No deployment matches the search.")
            self.verdicts_html.value = ""
            return
        self.verdicts = queue_matches(
            self._store, deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep_id])), sort=True
        )
        self.summary_html.value = _html.note(verdict_summary(self.verdicts), css_class="dk-summary-text")
        shown = self.verdicts.select(
            pl.col("work_pool_name").alias("pool"),
            pl.col("work_queue_name").alias("queue"),
            pl.col("tags_match").alias("tags ⊆ deployment tags"),
            pl.col("missing_tags").alias("missing tags"),
            pl.col("deployment_id_match").alias("deployment ids"),
            pl.col("flow_runner_match").alias("flow runner types"),
            pl.col("assigned").alias("assigned (work_queue_id)"),
            pl.when("matches").then(pl.lit("picks it up")).otherwise(pl.lit("no")).alias("verdict"),
        )
        self.verdicts_html.value = _html.table(shown, css_class="dk-verdict-table", empty="No work queues.")

    def refresh_matrix(self) -> None:
        """Recompute the deployments x queues matrix for the search's deployments."""
        first = read_deployments(self._store, limit=self._limit, deployment_filter=self.picker.filter)
        if first.is_empty():
            self.matrix = pl.DataFrame()
            self.figure = None
            self.matrix_html.value = _html.note("No deployment matches the search.")
            self.heatmap.layout.display = "none"
            return
        matches = queue_matches(
            self._store,
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=first["id"].to_list())),
            sort=True,
        )
        self.matrix = queue_matrix(matches)
        self.figure = plots.queue_match_heatmap(matches)
        _html.show_png(self.heatmap, plots.to_png(self.figure))
        self.matrix_html.value = _html.note(
            f"{self.matrix.height} deployments (first {self._limit} by name) x "
            f"{self.matrix.width - 2} work queues; a dot marks the deployment's own queue."
        )
