"""``deploykit health``, ``late`` and ``missed``: what the fleet's runs did (``deploykit.history``)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from deploykit.cli._common import emit, open_store, store_options

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.figure import Figure

    from deploykit.store import Store

FORMATS = ("table", "csv", "json", "markdown")
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([dhm])")
_UNIT = {"d": "days", "h": "hours", "m": "minutes"}
_HEALTH_TABLE = (
    "flow_name", "deployment_name", "status", "runs", "success_rate", "failure_streak",
    "last_state_type", "duration_p50", "duration_p95", "lateness_p95", "late_now",
)  # fmt: skip
_LATE_TABLE = (
    "flow_name", "deployment_name", "flow_run_name", "state_type", "expected_start_time",
    "lateness", "work_pool_name", "work_queue_name", "work_pool_paused", "work_queue_paused",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``health``, ``late`` and ``missed`` to the ``deploykit`` command."""
    parents = [store_options(), _options()]
    health = subparsers.add_parser(
        "health", parents=parents, help="per deployment: runs, success rate, failure streak, percentiles"
    )
    _window(health)
    health.add_argument("--failing", action="store_true", help="only deployments whose newest run failed")
    health.set_defaults(run=run_health)

    late = subparsers.add_parser("late", parents=parents, help="scheduled runs not started, past their time")
    _window(late)
    late.add_argument(
        "--threshold", type=float, default=15.0, help="seconds of lateness that count (default 15)"
    )
    late.set_defaults(run=run_late)

    missed = subparsers.add_parser("missed", parents=parents, help="scheduled dates that got no run")
    _window(missed, since_default="7 days before --until")
    missed.set_defaults(run=run_missed)


def _options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--format", choices=FORMATS, default="table")
    parent.add_argument("--flow", action="append", help="flow name (repeatable: any of them)")
    parent.add_argument("--tag", action="append", help="required deployment tag (repeatable: all of them)")
    parent.add_argument("--work-pool", action="append", help="work pool name (repeatable)")
    parent.add_argument("--work-queue", action="append", help="work queue name (repeatable)")
    parent.add_argument("--as-of", help="ISO 8601 time taken as now (default: now)")
    return parent


def _window(parser: argparse.ArgumentParser, since_default: str = "open") -> None:
    parser.add_argument(
        "--since", help=f"ISO 8601 time, or 7d / 12h / 30m before --as-of (default: {since_default})"
    )
    parser.add_argument("--until", help="ISO 8601 time, or a duration before --as-of (default: open)")


def run_health(args: argparse.Namespace) -> None:
    from deploykit.history import deployment_health

    as_of, since, until = _times(args)
    with open_store(args, read_only=True) as store:
        frame = deployment_health(store, since=since, until=until, as_of=as_of, **_filters(args))
    if args.failing:
        frame = frame.filter(frame["status"] == "failing")
    _print(frame, args.format, _HEALTH_TABLE)


def run_late(args: argparse.Namespace) -> None:
    from deploykit.history import late_runs

    as_of, since, until = _times(args)
    with open_store(args, read_only=True) as store:
        frame = late_runs(
            store, as_of=as_of, threshold=args.threshold, since=since, until=until, **_filters(args)
        )
    _print(frame, args.format, _LATE_TABLE)


def run_missed(args: argparse.Namespace) -> None:
    from deploykit.history import missed_runs

    as_of, since, until = _times(args)
    until = until or as_of
    since = since or until - timedelta(days=7)
    with open_store(args, read_only=True) as store:
        frame = missed_runs(store, since, until, **_filters(args))
    _print(frame, args.format, ("flow_name", "deployment_name", "scheduled_time"))


def _times(args: argparse.Namespace) -> tuple[datetime, datetime | None, datetime | None]:
    """``--as-of`` (default now), ``--since`` and ``--until`` as datetimes."""
    as_of = _parse_time(args.as_of, "--as-of", None) if args.as_of else datetime.now(UTC)
    return as_of, _parse_time(args.since, "--since", as_of), _parse_time(args.until, "--until", as_of)


def _parse_time(text: str | None, name: str, as_of: datetime | None) -> datetime | None:
    """An ISO 8601 time with an offset (``Z`` too), or a duration (``7d``) before ``as_of``."""
    if text is None:
        return None
    relative = _RELATIVE.fullmatch(text)
    if relative and as_of is not None:
        return as_of - timedelta(**{_UNIT[relative.group(2)]: float(relative.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is neither an ISO 8601 time nor a duration like 7d") from None
    if value.tzinfo is None:
        raise ValueError(f"{name} {text!r} has no UTC offset; add one, e.g. {text}+00:00")
    return value


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "flow_filter": {"name": {"any_": args.flow}} if args.flow else None,
        "deployment_filter": {"tags": {"all_": args.tag}} if args.tag else None,
        "work_pool_filter": {"name": {"any_": args.work_pool}} if args.work_pool else None,
        "work_queue_filter": {"name": {"any_": args.work_queue}} if args.work_queue else None,
    }


def _print(frame: pl.DataFrame, fmt: str, table_columns: tuple[str, ...]) -> None:
    """``table`` shows the columns a person reads first, wide and rounded; the others show all."""
    import polars as pl

    if fmt in ("csv", "json"):
        emit(frame, fmt)
        return
    shown = frame.select(table_columns) if fmt == "table" else frame
    config = pl.Config(
        tbl_formatting="MARKDOWN" if fmt == "markdown" else "UTF8_FULL_CONDENSED",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=1000,
        fmt_str_lengths=80,
        float_precision=None if fmt == "markdown" else 2,
    )
    with config:
        print(shown)


def report_section(
    store: Store, *, as_of: datetime | None = None
) -> tuple[dict[str, pl.DataFrame], dict[str, Figure]]:
    """The run-history part of ``deploykit report``: tables and figures.

    Tables: ``deployment_health`` over the last 7 days, ``late_runs`` now, ``missed_runs``
    of the last 7 days. Figures (none without the ``widgets`` extra): runs per day and
    state, and the fleet's run duration per day with the p50-p95 band, both over the last
    30 days.
    """
    from deploykit.history import deployment_health, late_runs, missed_runs, run_counts, run_metrics

    now = as_of or datetime.now(UTC)
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    tables = {
        "deployment_health": deployment_health(store, since=week, as_of=now),
        "late_runs": late_runs(store, as_of=now),
        "missed_runs": missed_runs(store, week, now),
    }
    try:
        from deploykit import plots
    except ImportError:
        return tables, {}
    figures = {
        "run_activity": plots.activity_heatmap(run_counts(store, since=month)),
        "run_duration": plots.duration_over_time(
            run_metrics(store, "duration", every="1d", since=month, as_of=now),
            title="Run duration, whole fleet",
        ),
    }
    return tables, figures
