"""``deploykit report``: the summary tables as CSV and Markdown, and the figures as PNG."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from deploykit.cli._common import open_store, store_options

if TYPE_CHECKING:
    import polars as pl

    from deploykit.store import Store


FIGURE_TITLES = {
    "schedule_timeline": "next runs per deployment (the report's window)",
    "load_heatmap": "runs per hour over the next 7 days (UTC)",
    "queue_matches": "which queues take which deployments",
    "run_activity": "runs per day and state over the last 30 days",
    "run_duration": "run duration per day, whole fleet (p50 line, p50-p95 band)",
}
"""The figures ``report.md`` embeds (each is a PNG beside it), with their headings."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``deploykit`` command."""
    report = subparsers.add_parser("report", parents=[store_options()], help="summary tables and figures")
    report.add_argument("out_dir")
    report.add_argument("--hours", type=int, default=24, help="preview window (default 24)")
    report.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> None:
    import polars as pl

    from deploykit.cli._summaries import NOTES, summaries

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open_store(args, read_only=True) as store:
        tables = summaries(store, hours=args.hours)
        figures = _figures(store, tables["next_runs"])
        history_tables, history_figures = _history(store)
    lines = ["# deploykit report", ""]
    for name, frame in tables.items():
        frame.with_columns(pl.col(pl.List(pl.String)).list.join(",")).write_csv(out / f"{name}.csv")
        note = [f"_{NOTES[name]}_", ""] if name in NOTES else []
        lines += [f"## {name.replace('_', ' ')}", "", *note, _markdown(frame), ""]
    if figures:
        lines += ["## figures", ""]
    for name, figure in figures.items():
        (out / f"{name}.png").write_bytes(figure)
        lines += [f"### {FIGURE_TITLES[name]}", "", f"![{FIGURE_TITLES[name]}]({name}.png)", ""]
    if history_tables:
        lines += ["# Run history", ""]
    for name, frame in history_tables.items():
        frame.with_columns(pl.col(pl.List(pl.String)).list.join(",")).write_csv(out / f"{name}.csv")
        lines += [f"## {name.replace('_', ' ')}", "", _markdown(frame), ""]
    for name, figure in history_figures.items():
        (out / f"{name}.png").write_bytes(figure)
        lines += [f"### {FIGURE_TITLES[name]}", "", f"![{FIGURE_TITLES[name]}]({name}.png)", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    tables = {**tables, **history_tables}
    figures = {**figures, **history_figures}
    print(f"wrote {len(tables)} tables and {len(figures)} figures to {out}")


def _markdown(frame: pl.DataFrame) -> str:
    cells = [[("" if v is None else str(v)).replace("|", "\\|") for v in row] for row in frame.rows()]
    head = f"| {' | '.join(frame.columns)} |\n|{'---|' * len(frame.columns)}"
    return "\n".join([head, *(f"| {' | '.join(r)} |" for r in cells)])


def _figures(store: Store, runs: pl.DataFrame) -> dict[str, bytes]:
    """The plots of ``deploykit.plots`` as PNG bytes (none, said on stderr, without the ``widgets`` extra)."""
    try:
        from deploykit import plots
    except ImportError as exc:
        print(f"deploykit: note: no figures: {exc}", file=sys.stderr)
        return {}
    from deploykit.models import deployments as ops

    start = datetime.now(UTC)
    end = start + timedelta(days=7)
    week = ops.preview_runs(store, start, end, max_runs=None)  # exact counts: no 1,000-run cliff
    figures = {
        "schedule_timeline": plots.schedule_timeline(runs, lane="deployment_name"),
        "load_heatmap": plots.load_heatmap(week, start=start, end=end),
        "queue_matches": plots.queue_match_heatmap(ops.queue_matches(store, sort=True)),
    }
    return {name: plots.to_png(fig) for name, fig in figures.items()}


def _history(store: Store) -> tuple[dict[str, pl.DataFrame], dict[str, bytes]]:
    """The run-history tables, and its figures as PNG bytes (with the ``widgets`` extra)."""
    from deploykit.cli.history import report_section

    tables, figures = report_section(store)
    if not figures:
        return tables, {}
    from deploykit import plots

    return tables, {name: plots.to_png(fig) for name, fig in figures.items()}
