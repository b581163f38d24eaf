"""The README's "Limits" section lists every bound (issue 15, "Done when"): each named
constant that refuses a value is stated there with its value, so the README cannot fall
behind the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploykit import calendar
from deploykit.io import _chunks, _prefect_api
from deploykit.models import _args, _fleet, writer
from deploykit.schemas import schedules

README = Path(__file__).resolve().parents[1] / "README.md"

BOUNDS = {
    "calendar.MIN_YEAR..MAX_YEAR": f"{calendar.MIN_YEAR}..{calendar.MAX_YEAR}",
    "calendar.MAX_INTERVAL": f"{calendar.MAX_INTERVAL.days:,} days",
    "calendar.MAX_COUNT": calendar.MAX_COUNT,
    "calendar.MAX_CANDIDATES": calendar.MAX_CANDIDATES,
    "calendar.MAX_FIRST_CANDIDATES": calendar.MAX_FIRST_CANDIDATES,
    "calendar.MAX_DATES": calendar.MAX_DATES,
    "schedules.MAX_RRULE_LENGTH": f"{schedules.MAX_RRULE_LENGTH:,} characters",
    "fleet.MAX_RUNS_PER_CALL": _fleet.MAX_RUNS_PER_CALL,
    "fleet.MAX_PREVIEW_WINDOW": f"{_fleet.MAX_PREVIEW_WINDOW.days} days",
    "fleet.MAX_PREVIEW_RUNS": _fleet.MAX_PREVIEW_RUNS,
    "fleet.PREVIEW_MAX_RUNS": _fleet.PREVIEW_MAX_RUNS,
    "args.MAX_COUNT": "2**63 - 1",
    "writer.MAX_JSON_DEPTH": f"{writer.MAX_JSON_DEPTH} levels",
    "writer: stored years": "years 1..9999",
    "prefect_api.MAX_BODY_BYTES": f"{_prefect_api.MAX_BODY_BYTES // 2**20} MiB",
    "chunks.MAX_CHUNK_ROWS": _chunks.MAX_CHUNK_ROWS,
    "Store timeout": "`Store(path, timeout=...)`: finite seconds >= 0",
}


def _limits() -> str:
    text = README.read_text(encoding="utf-8")
    return re.search(r"^## Limits\n(.*?)^## ", text, re.S | re.M).group(1)


@pytest.mark.parametrize("value", list(BOUNDS.values()), ids=list(BOUNDS))
def test_the_limits_section_states_every_bound(value):
    shown = f"{value:,}" if isinstance(value, int) else value
    assert shown in _limits()


def test_the_stated_limits_are_the_enforced_ones():
    assert _args.MAX_COUNT == 2**63 - 1
    assert writer.MAX_JSON_DEPTH == 254
