"""The notebook widgets, driven from Python: controls in, filters / frames / figures out.

Expected values are computed independently of the widget: with Polars on the store's
tables, with the operations the widget is a view of, or taken from SPEC.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from tests_support import new_deployment

import deploykit as dk
import deploykit.filters as dkf
from deploykit.models import deployments as D
from deploykit.models import flows, work_pools, work_queues
from deploykit.widgets import DeploymentBrowser, QueueMatchInspector, SchedulePreview

HOSTILE = "<img src=x onerror=alert(1)>"
NOW = datetime(2023, 3, 10, tzinfo=UTC)


@pytest.fixture
def fleet(store: dk.Store) -> dk.Store:
    """Two flows, three extra queues with filters, 4 named deployments + 30 bulk ones."""
    etl = flows.create_flow(store, dk.Flow(name="etl"))
    ml = flows.create_flow(store, dk.Flow(name="ml"))
    pool = work_pools.create_work_pool(store, dk.WorkPool(name="k8s", type="kubernetes"))
    work_queues.create_work_queue(store, dk.WorkQueue(name="prod-only", filter={"tags": ["prod"]}))
    work_queues.create_work_queue(
        store, dk.WorkQueue(name="docker-only", filter={"flow_runner_types": ["docker"]})
    )
    work_queues.create_work_queue(store, dk.WorkQueue(name="gpu", work_pool_id=pool.id))
    named = [
        dk.Deployment(
            name="nightly-etl",
            flow_id=etl.id,
            tags=["prod", "etl"],
            schedule={"cron": "0 2 * * *", "timezone": "America/New_York"},
            work_queue_name="prod-only",
            description="loads the warehouse",
            parameters={"full": True},
        ),
        dk.Deployment(
            name="hourly-ml",
            flow_id=ml.id,
            tags=["ml"],
            schedule={"interval": 3600, "anchor_date": "2023-01-01T00:00:00+00:00"},
            is_schedule_active=False,
            work_queue_name="gpu",
        ),
        dk.Deployment(
            name="etl-backfill",
            flow_id=etl.id,
            tags=["etl"],
            schedule={"rrule": "FREQ=DAILY;BYHOUR=6", "timezone": "UTC"},
            work_queue_name="prod-only",
        ),
        dk.Deployment(
            name="hostile",
            flow_id=etl.id,
            description=HOSTILE,
            tags=["<b>bold</b>"],
            parameters={"x": "<script>alert(2)</script>"},
            flow_runner={"type": "process", "config": {}},
            work_queue_name="docker-only",
        ),
    ]
    for deployment in named:
        D.create_deployment(store, deployment)
    D.create_deployments(
        store,
        pl.DataFrame(
            {
                "name": [f"bulk-{i:03d}" for i in range(30)],
                "flow_id": [str(ml.id)] * 30,
                "tags": [["prod"] if i % 2 else ["dev"] for i in range(30)],
            }
        ),
    )
    return store


def deployments_frame(store: dk.Store) -> pl.DataFrame:
    """Deployments with their flow, queue and pool names (plain Polars joins)."""
    flow_names = store.table("flow").select(flow_id="id", flow_name="name").collect()
    queues = store.table("work_queue").select(queue_id="id", queue="name", pool_id="work_pool_id").collect()
    pools = store.table("work_pool").select(pool_id="id", pool="name").collect()
    return (
        store.table("deployment")
        .collect()
        .join(flow_names, on="flow_id", how="left")
        .join(queues, left_on="work_queue_id", right_on="queue_id", how="left")
        .join(pools, on="pool_id", how="left")
    )


# --- DeploymentBrowser --------------------------------------------------------------------


def test_browser_controls_select_what_polars_selects(fleet):
    browser = DeploymentBrowser(fleet, page_size=100)
    browser.name_text.value = "ETL"
    browser.tags_text.value = "etl"
    browser.flow_dropdown.value = "etl"
    all_rows = deployments_frame(fleet)
    expected = all_rows.filter(
        pl.col("name").str.to_lowercase().str.contains("etl", literal=True),
        pl.col("tags").list.contains("etl"),
        pl.col("flow_name") == "etl",
    )
    assert sorted(browser.results["name"]) == sorted(expected["name"]) == ["etl-backfill", "nightly-etl"]
    assert browser.total == expected.height
    assert set(browser.filters) == {"deployment_filter", "flow_filter"}

    browser.active_dropdown.value = "paused"
    browser.name_text.value = ""
    browser.tags_text.value = ""
    browser.flow_dropdown.value = ""
    paused = all_rows.filter(~pl.col("is_schedule_active"))
    assert browser.results["name"].to_list() == sorted(paused["name"]) == ["hourly-ml"]


def test_browser_pool_and_queue_filters_follow_the_assigned_queue(fleet):
    browser = DeploymentBrowser(fleet, page_size=100)
    browser.pool_dropdown.value = "k8s"
    assert browser.results["name"].to_list() == ["hourly-ml"]
    browser.pool_dropdown.value = ""
    browser.queue_dropdown.value = "prod-only"
    expected = deployments_frame(fleet).filter(pl.col("queue") == "prod-only")
    assert browser.results["name"].to_list() == sorted(expected["name"])
    assert browser.filters["work_queue_filter"] == dkf.WorkQueueFilter(name={"any_": ["prod-only"]})


def test_browser_code_evaluates_to_the_same_rows(fleet):
    browser = DeploymentBrowser(fleet, page_size=10)
    browser.tags_text.value = "prod"
    browser.sort_dropdown.value = dk.DeploymentSort.NAME_DESC
    browser.next_button.click()
    namespace: dict[str, object] = {"store": fleet}
    exec(browser.imports, namespace)
    again = eval(browser.code, namespace)
    assert browser.code.startswith("read_deployments(store, offset=10, limit=10, deployment_filter=")
    assert again.equals(browser.results)
    assert browser.results.height == 6  # 15 bulk "prod" + nightly-etl = 16 rows, page 2 of size 10


def test_browser_pages_through_all_matches_once(fleet):
    browser = DeploymentBrowser(fleet, page_size=10)
    total = fleet.sql("SELECT count(*) AS n FROM deployment")["n"][0]
    assert browser.total == total and browser.pages == 4
    assert browser.prev_button.disabled and not browser.next_button.disabled
    seen = []
    for _ in range(browser.pages):
        seen += browser.results["name"].to_list()
        browser.next_button.click()
    assert browser.page == 3 and browser.next_button.disabled
    assert seen == sorted(deployments_frame(fleet)["name"])
    assert "31–34 of 34 deployments" in browser.summary_html.value
    browser.name_text.value = "bulk"  # a filter change goes back to page 1
    assert browser.page == 0 and browser.total == 30


def test_browser_details_of_the_selected_deployment(fleet):
    browser = DeploymentBrowser(fleet, now=NOW)
    browser.tags_text.value = "prod"
    nightly = D.read_deployment_by_name(fleet, "nightly-etl", "etl")
    browser.deployment_select.value = str(nightly.id)
    details = browser.details
    assert details["description"] == "loads the warehouse"
    assert details["schedule"] == nightly.schedule.describe()
    # 02:00 in New York is 07:00 UTC before the DST change of 2023-03-12, 06:00 after.
    assert details["next runs"][:3] == [
        "2023-03-10T02:00:00-05:00",
        "2023-03-11T02:00:00-05:00",
        "2023-03-12T03:00:00-04:00",
    ]
    # prod-only wants "prod" (it has it); docker-only wants a docker runner (it has none).
    assert "default-agent-pool/prod-only" in details["picked up by"]
    assert "default-agent-pool/docker-only" not in details["picked up by"]
    assert "loads the warehouse" in browser.details_html.value


def test_browser_escapes_user_text_everywhere(fleet):
    browser = DeploymentBrowser(fleet)
    browser.name_text.value = "hostile"
    assert browser.details["description"] == HOSTILE
    rendered = browser.table_html.value + browser.details_html.value
    assert "<img" not in rendered and "<script" not in rendered and "<b>bold" not in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.details_html.value
    assert "&lt;b&gt;bold&lt;/b&gt;" in browser.table_html.value
    browser.name_text.value = "<img src=x>"
    assert "<img" not in browser.code_html.value and "&lt;img src=x&gt;" in browser.code_html.value


def test_browser_stays_paged_on_100000_deployments(store):
    flow = flows.create_flow(store, dk.Flow(name="big"))
    n = 100_000
    frame = pl.DataFrame(
        {
            "name": [f"dep-{i:06d}" for i in range(n)],
            "flow_id": [str(flow.id)] * n,
            "tags": [["prod"] if i % 4 == 0 else ["dev"] for i in range(n)],
        }
    )
    assert D.create_deployments(store, frame) == n
    browser = DeploymentBrowser(store, page_size=100)
    assert browser.total == n and browser.results.height == 100
    assert len(browser.deployment_select.options) == 100
    browser.go_to(browser.pages - 1)
    assert browser.results["name"].to_list() == [f"dep-{i:06d}" for i in range(n - 100, n)]
    browser.tags_text.value = "prod"
    browser.name_text.value = "9999"
    expected = frame.filter(pl.col("name").str.contains("9999"), pl.col("tags").list.contains("prod"))
    assert (
        browser.total == expected.height and browser.results["name"].to_list() == expected["name"].to_list()
    )


# --- SchedulePreview ----------------------------------------------------------------------


def typed(
    store: dk.Store, kind: str, text: str, timezone: str = "UTC", **controls: object
) -> SchedulePreview:
    preview = SchedulePreview(store, start=date(2023, 3, 11))
    preview.source.value = kind
    preview.timezone.value = timezone
    for name, value in controls.items():
        getattr(preview, name).value = value
    preview.expression.value = text
    return preview


def test_preview_flags_runs_moved_by_dst(store):
    # SPEC.md section 4: 30 2 * * * in New York fires at 03:00-04:00 on 2023-03-12.
    preview = typed(store, "cron", "30 2 * * *", "America/New_York", count=3)
    assert preview.error is None
    assert preview.runs["scheduled_time"].to_list() == [
        datetime(2023, 3, 11, 7, 30, tzinfo=UTC),
        datetime(2023, 3, 12, 7, 0, tzinfo=UTC),
        datetime(2023, 3, 13, 6, 30, tzinfo=UTC),
    ]
    assert preview.runs["dst_adjusted"].to_list() == [False, True, False]
    assert preview.runs_html.value.count("DST-adjusted") == 1
    assert "02:30" in preview.describe_html.value
    points = [len(c.get_offsets()) for c in preview.figure.axes[0].collections]
    assert points == [2, 1]


def test_preview_window_and_interval_shorthand(store):
    preview = typed(store, "interval", "6h", mode="window", days=2)
    assert preview.runs.height == 8
    gaps = preview.runs["scheduled_time"].diff().drop_nulls().unique().to_list()
    assert gaps == [timedelta(hours=6)]
    assert preview.runs["scheduled_time"][0] == datetime(2023, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "text", "timezone", "message"),
    [
        ("cron", "61 * * * *", "UTC", "cron:"),
        ("cron", "0 9 * * *", "Mars/Olympus", "timezone:"),
        ("interval", "6x", "UTC", "interval '6x'"),
        ("interval", "0", "UTC", "interval:"),
        ("rrule", "FREQ=SOMETIMES", "UTC", "rrule:"),
        ("cron", HOSTILE, "UTC", "cron:"),
    ],
)
def test_preview_shows_invalid_input_inline(store, kind, text, timezone, message):
    preview = typed(store, kind, text, timezone)
    assert preview.error is not None and message in preview.error
    assert preview.runs.is_empty() and preview.figure is None
    assert 'class="dk-error"' in preview.error_html.value
    assert "<img" not in preview.error_html.value
    assert "Traceback" not in preview.error_html.value
    preview.source.value = "cron"
    preview.timezone.value = "UTC"
    preview.expression.value = "0 9 * * *"
    assert preview.error is None and preview.error_html.value == "" and preview.runs.height == 10


def test_preview_of_a_deployment_and_its_fleet(fleet):
    preview = SchedulePreview(fleet, start=date(2023, 3, 11))
    nightly = D.read_deployment_by_name(fleet, "nightly-etl", "etl")
    preview.picker.search.value = "etl"
    preview.picker.dropdown.value = str(nightly.id)
    start = datetime(2023, 3, 11)
    assert preview.runs["scheduled_time"].to_list() == [
        d.astimezone(UTC) for d in nightly.schedule.get_dates(10, start=start)
    ]
    # Fleet: active, scheduled deployments whose name contains "etl" (nightly-etl, etl-backfill),
    # 7 days from 2023-03-11 00:00 UTC: 7 nightly runs + 7 daily 06:00 runs.
    assert preview.fleet.height == 14
    grid = preview.fleet_figure.axes[0].images[0].get_array()
    assert grid.shape == (7, 24) and int(grid.sum()) == 14
    # 06:00 UTC: the rrule daily, and 02:00 New York in EDT (2023-03-13 on); 07:00 UTC:
    # 02:00 EST on 2023-03-11, and 03:00 EDT on 2023-03-12 (02:00 falls in the DST gap).
    assert int(grid[:, 6].sum()) == 7 + 5 and int(grid[:, 7].sum()) == 2
    top = preview.busiest.row(0, named=True)
    assert top["period"] == datetime(2023, 3, 13, 6, tzinfo=UTC) and top["runs"] == 2
    assert top["deployments"] == ["etl-backfill", "nightly-etl"]
    preview.picker.search.value = "no-such-name"
    assert preview.fleet.is_empty() and preview.fleet_figure is None


def test_preview_of_a_deployment_without_schedule(fleet):
    preview = SchedulePreview(fleet, start=date(2023, 3, 11))
    preview.picker.search.value = "hostile"
    assert preview.schedule is None and preview.runs.is_empty() and preview.error is None
    assert "no schedule" in preview.describe_html.value


# --- QueueMatchInspector ------------------------------------------------------------------


def test_inspector_explains_each_rule(fleet):
    inspector = QueueMatchInspector(fleet)
    inspector.picker.search.value = "hostile"
    verdicts = {
        (row["work_pool_name"], row["work_queue_name"]): row
        for row in inspector.verdicts.iter_rows(named=True)
    }
    queue_count = fleet.sql("SELECT count(*) AS n FROM work_queue")["n"][0]
    assert len(inspector.verdicts) == queue_count
    prod_only = verdicts["default-agent-pool", "prod-only"]
    docker_only = verdicts["default-agent-pool", "docker-only"]
    assert prod_only["tags_match"] is False and prod_only["missing_tags"] == ["prod"]
    assert docker_only["flow_runner_match"] is False and docker_only["assigned"]
    hostile = D.read_deployment_by_name(fleet, "hostile", "etl")
    picked = D.check_work_queues_for_deployment(fleet, hostile.id).select("work_pool_name", "name").rows()
    assert sorted(key for key, row in verdicts.items() if row["matches"]) == sorted(picked)
    summary = inspector.summary_html.value
    assert f"Picked up by {len(picked)} of {queue_count}" in summary
    assert "docker-only does NOT pick it up: flow runner type not allowed" in summary


def test_inspector_matrix_agrees_with_check_work_queues(fleet):
    inspector = QueueMatchInspector(fleet, matrix_limit=10)
    inspector.picker.search.value = "etl"
    names = inspector.matrix["deployment_name"].to_list()
    assert names == ["etl-backfill", "nightly-etl"]
    queue_count = fleet.sql("SELECT count(*) AS n FROM work_queue")["n"][0]
    assert inspector.matrix.width == 2 + queue_count
    for row in inspector.matrix.iter_rows(named=True):
        picked = D.check_work_queues_for_deployment(fleet, row["deployment_id"])
        expected = {f"{p}/{q}" for p, q in picked.select("work_pool_name", "name").rows()}
        assert {k for k, v in row.items() if v is True} == expected
    grid = inspector.figure.axes[0].images[0].get_array()
    assert grid.shape == (2, queue_count)
    inspector.picker.search.value = ""
    assert inspector.matrix.height == 10  # capped at matrix_limit, first by name


# --- notebooks ----------------------------------------------------------------------------


def _strip_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "strip_notebooks.py"
    spec = importlib.util.spec_from_file_location("strip_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebooks_are_stripped(capsys):
    strip = _strip_script()
    assert strip.main(["--check"]) == 0, capsys.readouterr().err


def test_strip_notebooks_clears_outputs(tmp_path):
    import nbformat

    strip = _strip_script()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3)
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)]
    path = tmp_path / "run.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {"state": {}}}), path)
    assert strip.main(["--check", str(path)]) == 1
    assert strip.main([str(path)]) == 0
    clean = nbformat.read(path, as_version=4)
    assert clean.cells[0].outputs == [] and clean.cells[0].execution_count is None
    assert "widgets" not in clean.metadata and clean.cells[0].source == "1 + 1"
    assert strip.main(["--check", str(path)]) == 0


def test_fleet_view_counts_every_run_of_the_window():
    """Issue 13 item 1: the fleet view is exact past the old 1,000-run cap (7 days x 288 runs)."""
    from datetime import date

    import deploykit as dk
    from deploykit.models import flows
    from deploykit.schemas.schedules import MAX_DATES
    from deploykit.widgets import SchedulePreview

    store = dk.Store()
    flow = flows.create_flow(store, dk.Flow(name="busy"))
    new_deployment(
        store,
        flow,
        "every-5-min",
        schedule={"interval": 300, "anchor_date": "2023-01-01T00:00:00+00:00"},
    )
    widget = SchedulePreview(store, start=date(2023, 3, 6))
    widget.days.value = 7
    widget.refresh_fleet()
    assert widget.fleet.height == 7 * 288 > MAX_DATES
    assert f"{7 * 288} runs of 1 deployments" in widget.fleet_html.value
    assert "limit" not in widget.fleet_html.value
    widget.days.value = 1
    widget.refresh_fleet()
    assert widget.fleet.height == 288 and "limit" not in widget.fleet_html.value
