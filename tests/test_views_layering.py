"""Views (widgets, plots, the CLI) hold no SQL and export no domain helpers of their own (issue 11)."""

from __future__ import annotations

import re
from pathlib import Path

import deploykit.widgets as widgets

PACKAGE = Path(__file__).parents[1] / "deploykit"
VIEWS = [
    *sorted((PACKAGE / "widgets").glob("*.py")),
    PACKAGE / "plots.py",
    *sorted((PACKAGE / "cli").glob("*.py")),
]
SQL = re.compile(r"\.(sql|execute|executemany)\(|\bSELECT\b|SCHEDULE_TYPE_SQL")


def test_views_run_no_sql():
    offenders = [
        f"{p.relative_to(PACKAGE)}:{n}"
        for p in VIEWS
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert offenders == []


def test_widgets_export_widgets_only():
    assert not {"parse_interval", "typed_schedule", "upcoming_runs"} & set(widgets.__all__)
    assert all(not hasattr(widgets, name) for name in ("parse_interval", "typed_schedule", "upcoming_runs"))


def test_one_schedule_type_and_one_runs_schema():
    from deploykit.scheduling import OUTPUT_SCHEMA, RUNS_SCHEMA
    from deploykit.widgets import _schedule

    assert not hasattr(_schedule, "Schedule") or _schedule.Schedule is __import__("deploykit").Schedule
    assert dict(RUNS_SCHEMA) == {k: v for k, v in OUTPUT_SCHEMA.items() if k != "id"}
    assert _schedule.RUNS_SCHEMA is RUNS_SCHEMA


def test_domain_helpers_live_below_the_views():
    from deploykit.calendar import parse_interval
    from deploykit.scheduling import upcoming_runs
    from deploykit.schemas.schedules import typed_schedule

    assert parse_interval("1d 12h").total_seconds() == 129600
    assert typed_schedule(
        "interval", "90m", "UTC", __import__("datetime").datetime(2024, 1, 1)
    ).interval == parse_interval("90m")
    assert callable(upcoming_runs)
