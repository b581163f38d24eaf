"""RunHistory driven from Python: controls in, health / selection / figures out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import deploykit as dk
from deploykit.history import STATUSES, deployment_health, run_metrics
from deploykit.widgets._history import ROWS, RunHistory

AS_OF = datetime(2023, 6, 1, tzinfo=UTC)
"""The sample data's "now"."""


@pytest.fixture(scope="module")
def store(sample_store: dk.Store) -> dk.Store:
    return sample_store


def test_health_table_follows_window_and_filters(store):
    view = RunHistory(store, as_of=AS_OF, window="last 7 days")
    expected = deployment_health(store, since=AS_OF - timedelta(days=7), as_of=AS_OF)
    assert view.health.height == expected.height
    urgency = view.health["status"].replace_strict({s: i for i, s in enumerate(STATUSES)}).to_list()
    assert urgency == sorted(urgency)  # most urgent first
    assert view.table_html.value.count("<tr>") == ROWS + 1
    view.status_dropdown.value = "failing"
    assert set(view.health["status"]) == {"failing"}
    assert view.health.height == expected.filter(pl.col("status") == "failing").height
    view.sort_dropdown.value = "lowest success rate"
    rates = view.health["success_rate"].drop_nulls().to_list()
    assert rates == sorted(rates)
    flow = view.health["flow_name"][0]
    view.flow_dropdown.value = flow
    assert set(view.health["flow_name"]) == {flow}
    view.window_dropdown.value = "all time"
    assert view.since is None and view.health["runs"].sum() > 0


def test_selected_deployment_figures(store):
    view = RunHistory(store, as_of=AS_OF, window="last 90 days")
    chosen = view.health["deployment_id"][3]
    view.select(chosen)
    assert view.selected == chosen
    assert set(view.runs["deployment_id"]) == {chosen}
    expected = run_metrics(
        store, "duration", every="1d", since=AS_OF - timedelta(days=90), as_of=AS_OF,
        deployment_filter={"id": {"any_": [chosen]}},
    )  # fmt: skip
    assert view.metrics.equals(expected)
    assert view.figure.axes[0].lines[0].get_ydata().tolist() == pytest.approx(expected["p50"].to_list())
    assert "Duration of" in view.figure.axes[0].get_title()
    assert view.timeline_figure is not None and view.lateness_figure.axes[0].get_ylabel() == "lateness (s)"
    assert view.duration_image.value[:4] == b"\x89PNG" and view.duration_image.layout.display is None


def test_empty_store_and_deployment_without_runs():
    empty = RunHistory(dk.Store(), as_of=AS_OF)
    assert empty.health.height == 0 and empty.selected is None
    assert "No deployment" in empty.summary_html.value
    with dk.Store() as other:
        flow = dk.models.flows.create_flow(other, dk.Flow(name='o\'neil "etl"'))
        dk.models.deployments.create_deployment(other, dk.Deployment(name="ok", flow_id=flow.id))
        view = RunHistory(other, as_of=AS_OF)
        assert view.health["status"].to_list() == ["no runs"]
        assert view.selected is not None and view.runs.height == 0
        assert view.figure.axes[0].texts[0].get_text() == "no duration in this window"
        assert "o&#x27;neil &quot;etl&quot;" in view.table_html.value


def test_window_change_redraws_the_same_selection(store):
    view = RunHistory(store, as_of=AS_OF, window="last 90 days")
    chosen = view.selected
    wide = view.metrics
    view.window_dropdown.value = "last 7 days"
    if chosen in set(view.health["deployment_id"].head(ROWS)):
        assert view.selected == chosen
    assert view.metrics["period"].min() is None or view.metrics["period"].min() >= AS_OF - timedelta(days=8)
    assert not view.metrics.equals(wide) or wide.is_empty()
