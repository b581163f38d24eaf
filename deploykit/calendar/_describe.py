"""English sentences for schedules: intervals, cron expressions (cron-descriptor) and simple rrules."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cron_descriptor import get_description

from deploykit.calendar._cron import CRON_ALIASES
from deploykit.calendar._zones import zone

_MONTH_WORDS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_WEEKDAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FREQ_UNITS = {"MONTHLY": "month", "WEEKLY": "week", "DAILY": "day"}
_DAY_NAMES = {word[:2].upper(): word for word in _WEEKDAY_WORDS}
_PLAIN_RULE = re.compile(r"(RRULE:)?[A-Z]+=[A-Z0-9,]+(;[A-Z]+=[A-Z0-9,]+)*")
_DESCRIBED_PARTS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE"}

_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60))


def _listing(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _humanize(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    units = _UNITS[:1] if seconds % 604800 == 0 else _UNITS[1:]
    parts = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append((int(count), unit))
    if seconds:
        parts.append((round(seconds, 6), "second"))
    if parts == [(1, parts[0][1])]:
        return f"every {parts[0][1]}"
    words = [f"{count:g} {unit}{'s' if count != 1 else ''}" for count, unit in parts]
    return "every " + _listing(words)


def _describe_rule(text: str) -> str | None:
    """Words for a single plain monthly, weekly or daily RRULE line; else None.

    Parts the rule leaves out take their value from the default DTSTART, 2020-01-01
    00:00, a Wednesday: the first of the month, on Wednesdays, at 00:00.
    """
    body = text.strip().upper()
    if not _PLAIN_RULE.fullmatch(body):
        return None
    parts = dict(pair.split("=") for pair in body.removeprefix("RRULE:").split(";"))
    unit = _FREQ_UNITS.get(parts.get("FREQ", ""))
    days = parts.get("BYDAY", "WE" if unit == "week" else "").split(",")
    if unit is None or not set(parts) <= _DESCRIBED_PARTS or not set(days) <= {"", *_DAY_NAMES}:
        return None
    if unit == "month" and "BYDAY" not in parts:
        parts.setdefault("BYMONTHDAY", "1")
    every = int(parts.get("INTERVAL", "1"))
    words = [f"Every {unit}" if every == 1 else f"Every {every} {unit}s"]
    if "BYMONTH" in parts:
        months = [_MONTH_WORDS[int(m) - 1] for m in parts["BYMONTH"].split(",")]
        words.append("in " + _listing(months))
    if "BYMONTHDAY" in parts:
        words.append(f"on day {_listing(parts['BYMONTHDAY'].split(','))}")
    if days != [""]:
        words.append("on " + _listing([_DAY_NAMES[d] for d in days]))
    hours = [int(h) for h in parts.get("BYHOUR", "0").split(",")]
    minutes = [int(m) for m in parts.get("BYMINUTE", "0").split(",")]
    words.append("at " + _listing([f"{h:02d}:{m:02d}" for h in hours for m in minutes]))
    return " ".join(words)


def describe_interval(interval: timedelta, anchor: datetime, timezone: str) -> str:
    """E.g. ``every 6 hours from 2023-01-01 09:00 CET`` (the anchor on the zone's clock)."""
    local = anchor.astimezone(zone(timezone))
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    return f"{_humanize(interval)} from {local.strftime(f'%Y-%m-%d {clock} %Z')}"


def describe_cron(expression: str, day_or: bool, timezone: str) -> str:
    """cron-descriptor's sentence (AND-ed days when not ``day_or``) plus the time zone."""
    try:
        text = get_description(CRON_ALIASES.get(expression.strip().lower(), expression))
    except Exception:  # cron-descriptor cannot word every valid expression
        text = f"cron {expression}"
    if not day_or:
        text = text.replace(", or on ", ", and on ")
    return f"{text} ({timezone})"


def describe_rrule(text: str, timezone: str) -> str:
    """Words for a simple rule, else the rule text; plus the time zone."""
    words = _describe_rule(text) or "RRULE " + " ".join(text.split())
    return f"{words} ({timezone})"
