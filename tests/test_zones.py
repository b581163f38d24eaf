"""The zone offset table (bulk time zone arithmetic) agrees with zoneinfo, zone by zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from deploykit.calendar import ZoneTable, is_gap, wall_to_instant

ALL_ZONES = sorted(available_timezones() - {"localtime", "Factory", "posixrules"})
EPOCH = datetime(1970, 1, 1)
US = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value.replace(tzinfo=None) - EPOCH) // US


def table_for(zones: list[str], walls: list[datetime]) -> ZoneTable:
    first, last = min(walls), max(walls)
    return ZoneTable(
        zones, first.replace(tzinfo=UTC) - timedelta(days=2), last.replace(tzinfo=UTC) + timedelta(days=2)
    )


def assert_walls_match(table: ZoneTable, rows: list[tuple[str, datetime]]) -> None:
    """``wall_to_instant`` of each (zone, wall) row equals zoneinfo's, for both gap rules."""
    frame = pl.LazyFrame(
        {"timezone": [z for z, _ in rows], "wall": [micros(w) for _, w in rows], "row": range(len(rows))}
    )
    for gap in ("shift", "end"):
        got = table.wall_to_instant(frame, gap=gap).sort("row").collect()
        expected = [micros(wall_to_instant(w, z, gap=gap).replace(tzinfo=None)) for z, w in rows]
        assert got["instant"].to_list() == expected, gap
        assert got["moved"].to_list() == [is_gap(w, ZoneInfo(z)) for z, w in rows]


@settings(max_examples=120, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ALL_ZONES), min_size=1, max_size=4),
    walls=st.lists(st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)), min_size=1, max_size=20),
    pick=st.randoms(use_true_random=False),
)
def test_walls_and_instants_match_zoneinfo(zones: list[str], walls: list[datetime], pick) -> None:
    rows = [(pick.choice(zones), wall) for wall in walls]
    table = table_for(zones, walls)
    assert_walls_match(table, rows)

    instants = [wall_to_instant(w, z, gap="shift") for z, w in rows]
    frame = pl.LazyFrame(
        {"timezone": [z for z, _ in rows], "instant": [micros(i) for i in instants], "row": range(len(rows))}
    )
    got = table.local(frame).sort("row").collect()
    locals_ = [
        i.astimezone(ZoneInfo(z)).replace(tzinfo=None) for (z, _), i in zip(rows, instants, strict=True)
    ]
    assert got["local"].to_list() == [micros(w) for w in locals_]
    ambiguous = [
        w.replace(tzinfo=ZoneInfo(z), fold=0).utcoffset() != w.replace(tzinfo=ZoneInfo(z), fold=1).utcoffset()
        and not is_gap(w, ZoneInfo(z))
        for (z, _), w in zip(rows, locals_, strict=True)
    ]
    assert got["ambiguous"].to_list() == ambiguous


def test_known_changes() -> None:
    """New York 2023 (an hour each way) and Lord Howe (half an hour), read as documented."""
    table = table_for(
        ["America/New_York", "Australia/Lord_Howe"], [datetime(2023, 1, 1), datetime(2023, 12, 31)]
    )
    cases = [
        ("America/New_York", datetime(2023, 3, 12, 2, 30), "end", datetime(2023, 3, 12, 7, 0), True),
        ("America/New_York", datetime(2023, 3, 12, 2, 30), "shift", datetime(2023, 3, 12, 7, 30), True),
        ("America/New_York", datetime(2023, 11, 5, 1, 30), "end", datetime(2023, 11, 5, 5, 30), False),
        ("Australia/Lord_Howe", datetime(2023, 10, 1, 2, 15), "end", datetime(2023, 9, 30, 15, 30), True),
        ("Australia/Lord_Howe", datetime(2023, 10, 1, 2, 15), "shift", datetime(2023, 9, 30, 15, 45), True),
    ]
    for zone, wall, gap, instant, moved in cases:
        frame = pl.LazyFrame({"timezone": [zone], "wall": [micros(wall)]})
        row = table.wall_to_instant(frame, gap=gap).collect().row(0, named=True)
        assert (row["instant"], row["moved"]) == (micros(instant), moved)


def test_offsets_change_at_the_second() -> None:
    """Each change is found to the second: one second before it the old offset holds."""
    table = table_for(["Europe/Berlin"], [datetime(2023, 1, 1), datetime(2023, 12, 31)])
    change = datetime(2023, 3, 26, 1, 0)  # UTC
    frame = pl.LazyFrame(
        {
            "timezone": ["Europe/Berlin"] * 2,
            "instant": [micros(change) - 1_000_000, micros(change)],
            "row": [0, 1],
        }
    )
    got = table.local(frame).sort("row").collect()["local"].to_list()
    assert got == [micros(datetime(2023, 3, 26, 1, 59, 59)), micros(datetime(2023, 3, 26, 3, 0))]


DST_ZONES = [
    z
    for z in ALL_ZONES
    if ZoneInfo(z).utcoffset(datetime(2020, 1, 1)) != ZoneInfo(z).utcoffset(datetime(2020, 7, 1))
]


@cache
def changes_in(zone: str, year: int) -> list[datetime]:
    """Naive UTC times at most 6 hours before each of the zone's offset changes in ``year``."""
    probes = [datetime(year, 1, 1) + timedelta(hours=h) for h in range(0, 8784, 6)]
    offsets = [w.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).utcoffset() for w in probes]
    return [w for w, a, b in zip(probes, offsets, offsets[1:], strict=False) if a != b]


@st.composite
def walls_near_changes(draw: st.DrawFn) -> tuple[str, datetime]:
    """A DST zone, and a wall time within hours of one of its offset changes."""
    zone = draw(st.sampled_from(DST_ZONES))
    changes = changes_in(zone, draw(st.integers(1950, 2100))) or changes_in(zone, 2020)
    pivot = draw(st.sampled_from(changes))
    return zone, pivot + draw(st.timedeltas(timedelta(hours=-12), timedelta(hours=24)))


@settings(max_examples=150, deadline=None)
@given(cases=st.lists(walls_near_changes(), min_size=1, max_size=8))
def test_gaps_and_repeats_match_zoneinfo(cases: list[tuple[str, datetime]]) -> None:
    zones = sorted({z for z, _ in cases})
    table = table_for(zones, [w for _, w in cases])
    assert_walls_match(table, cases)
