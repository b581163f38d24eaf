"""Issue 13, ``deploykit preview``: each run names the schedule that produced it, also with several."""

from __future__ import annotations

import json

from tests_support import new_deployment, run_cli

import deploykit as dk
from deploykit.models import flows

NINE = {"cron": "0 9 * * *", "timezone": "UTC"}
SIX_HOURS = {"interval": 21600, "anchor_date": "2024-01-01T01:00:00+00:00"}


def test_preview_of_several_schedules_names_each_runs_own_schedule(tmp_path, capsys):
    path = tmp_path / "two.duckdb"
    with dk.Store(path) as store:
        flow = flows.create_flow(store, dk.Flow(name="etl"))
        dep = new_deployment(store, flow, "two", schedules=[{"schedule": NINE}, {"schedule": SIX_HOURS}])
    described = {str(s.id): s.schedule.describe() for s in dep.schedules}
    code, out, err = run_cli(
        capsys, "preview", "etl/two", "--start", "2024-01-01", "--hours", "12", "--format", "json",
        "--store", str(path),
    )  # fmt: skip
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["scheduled_time"][11:16] for r in rows] == ["01:00", "07:00", "09:00"]
    assert [r["schedule"] for r in rows] == [described[r["schedule_id"]] for r in rows]
    assert rows[2]["schedule"] == "At 09:00 AM (UTC)" and "6 hours" in rows[0]["schedule"]
