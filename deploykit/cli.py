"""The ``deploykit`` command line: import, list, preview, match, export and report in batch.

Every subcommand takes ``--store PATH`` (default ``./deploykit.duckdb``; ``demo`` uses
an in-memory store unless given one). Exit codes: 0 success, 2 usage error, 1 failure
with a one-line ``deploykit: error: ...`` message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from pydantic import ValidationError

import deploykit as dk
from deploykit.io import (
    export_parquet,
    export_prefect_api,
    fetch_prefect,
    import_parquet,
    import_prefect_api,
    import_prefect_db,
)
from deploykit.models import deployments as ops
from deploykit.schemas.schedules import parse_schedule

DEFAULT_STORE = "deploykit.duckdb"
_USER_ERRORS = (dk.DeploykitError, ValidationError, ValueError, OSError)


# --- helpers ------------------------------------------------------------------------------


def _open(args: argparse.Namespace, *, read_only: bool = False) -> dk.Store:
    if args.store in (None, ":memory:"):
        return dk.Store()
    if read_only and not Path(args.store).exists():
        raise dk.StoreError(f"store {args.store} does not exist; run `deploykit import` first")
    return dk.Store(args.store, read_only=read_only)


def _emit(frame: pl.DataFrame, fmt: str) -> None:
    """Print ``frame`` as an aligned table, CSV or JSON records."""
    if fmt == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=2))
        return
    flat = frame.with_columns(pl.col(pl.List(pl.String)).list.join(","))
    if fmt == "csv":
        print(flat.write_csv(), end="")
        return
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        print(flat)


def _find_deployment(store: dk.Store, ref: str) -> dk.Deployment:
    """A deployment by ``FLOW/DEPLOYMENT`` or id."""
    flow, sep, name = ref.partition("/")
    found = ops.read_deployment_by_name(store, name, flow) if sep else ops.read_deployment(store, ref)
    if found is None:
        raise dk.ObjectNotFoundError(f"no deployment {ref!r} (give FLOW/DEPLOYMENT or an id)")
    return found


def _data_folder(given: str | None) -> Path:
    """``--data``, else ``./data``, else the repository's ``data/`` next to the package."""
    candidates = [Path(given)] if given else [Path.cwd() / "data", Path(__file__).parents[1] / "data"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no sample data folder (tried {', '.join(map(str, candidates))})")


def _import(store: dk.Store, source: str, api_key: str | None) -> dk.io.ImportReport:
    """Pick the importer by the source's form: URL, database file, Parquet export, JSON."""
    if source.startswith(("http://", "https://")):
        return fetch_prefect(store, source, api_key)
    path = Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        return import_parquet(store, path)
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return import_prefect_db(store, path)
    return import_prefect_api(store, path)


def _counts(frame: pl.DataFrame, column: str, label: str) -> pl.DataFrame:
    return (
        frame.group_by(column)
        .len("deployments")
        .sort(["deployments", column], descending=[True, False], nulls_last=True)
        .rename({column: label})
    )


def _summaries(store: dk.Store, hours: int = 24) -> dict[str, pl.DataFrame]:
    """The fleet's summary tables: per flow, tag, queue, schedule kind; matches; next runs."""
    deps = ops.read_deployment_overview(store).rename({"flow_name": "flow", "work_pool_name": "work_pool"})
    queues = deps.with_columns(
        queue=pl.concat_str(pl.col("work_pool").fill_null("?"), pl.col("work_queue_name"), separator="/")
    )
    matches = ops.queue_matches(store)
    top = (
        matches.filter("matches")
        .group_by("work_pool_name", "work_queue_name")
        .len("deployments_picked_up")
        .sort(["deployments_picked_up", "work_queue_name"], descending=[True, False])
    )
    start = datetime.now(UTC)
    runs = ops.preview_runs(store, start, start + timedelta(hours=hours))
    return {
        "deployments_per_flow": _counts(deps, "flow", "flow"),
        "deployments_per_tag": _counts(deps.explode("tags"), "tags", "tag"),
        "deployments_per_work_queue": _counts(queues, "queue", "work_pool/work_queue"),
        "schedule_kinds": _counts(deps, "schedule_type", "schedule_type"),
        "top_queue_matches": top,
        "next_runs": runs.select(
            "scheduled_time",
            "flow_name",
            "deployment_name",
            "work_queue_name",
            "schedule_type",
            "dst_adjusted",
        ),
    }


# --- subcommands ----------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> None:
    with _open(args) as store:
        print(import_prefect_api(store, _data_folder(args.data)))
        for title, frame in _summaries(store).items():
            print(f"\n## {title.replace('_', ' ')} ({frame.height} rows)")
            _emit(frame.head(args.top), "table")


def cmd_import(args: argparse.Namespace) -> None:
    with _open(args) as store:
        print(_import(store, args.source, args.api_key))


def cmd_ls(args: argparse.Namespace) -> None:
    deployment_filter: dict = {}
    if args.name_like:
        deployment_filter["name"] = {"like_": args.name_like}
    if args.tag:
        deployment_filter["tags"] = {"all_": args.tag}
    if args.active is not None:
        deployment_filter["is_schedule_active"] = {"eq_": args.active}
    with _open(args, read_only=True) as store:
        frame = ops.read_deployments(
            store,
            offset=args.offset,
            limit=args.limit,
            deployment_filter=deployment_filter or None,
            flow_filter={"name": {"any_": args.flow}} if args.flow else None,
            work_queue_filter={"name": {"any_": args.work_queue}} if args.work_queue else None,
            work_pool_filter={"name": {"any_": args.work_pool}} if args.work_pool else None,
            sort=dk.DeploymentSort[args.sort.upper()],
        )
        columns = ["id", "name", "flow_id", "tags", "work_queue_name", "schedule_type"]
        columns += ["is_schedule_active", "updated"]
        _emit(frame.select(columns) if args.format == "table" else frame, args.format)


def cmd_preview(args: argparse.Namespace) -> None:
    given = [x for x in (args.cron, args.interval, args.rrule) if x is not None]
    if bool(args.deployment) + len(given) != 1:
        raise ValueError("give exactly one of FLOW/DEPLOYMENT, --cron, --interval or --rrule")
    if args.deployment:
        with _open(args, read_only=True) as store:
            schedule = _find_deployment(store, args.deployment).schedule
        if schedule is None:
            raise ValueError(f"deployment {args.deployment!r} has no schedule")
    else:
        key = "cron" if args.cron else "interval" if args.interval else "rrule"
        schedule = parse_schedule({key: given[0], "timezone": args.timezone})
    start = datetime.fromisoformat(args.start) if args.start else None
    print(f"# {schedule.describe()}")
    frame = pl.DataFrame({"run": [d.isoformat() for d in schedule.get_dates(args.n, start)]})
    _emit(frame, args.format)


def cmd_match(args: argparse.Namespace) -> None:
    with _open(args, read_only=True) as store:
        deployment = _find_deployment(store, args.deployment)
        frame = ops.queue_matches(store, deployment_filter={"id": {"any_": [deployment.id]}}, sort=True)
    columns = ["work_pool_name", "work_queue_name", "tags_match", "missing_tags"]
    columns += ["deployment_id_match", "flow_runner_match", "assigned", "matches"]
    _emit(frame.select(columns).sort("work_pool_name", "work_queue_name"), args.format)


def cmd_export(args: argparse.Namespace) -> None:
    with _open(args, read_only=True) as store:
        write = export_parquet if args.format == "parquet" else export_prefect_api
        written = write(store, args.folder)
    print(f"wrote {sum(written.values())} rows to {args.folder} ({args.format})")


def cmd_report(args: argparse.Namespace) -> None:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _open(args, read_only=True) as store:
        tables = _summaries(store, hours=args.hours)
        lines = ["# deploykit report", ""]
        for name, frame in tables.items():
            frame.with_columns(pl.col(pl.List(pl.String)).list.join(",")).write_csv(out / f"{name}.csv")
            lines += [f"## {name.replace('_', ' ')}", "", _markdown(frame), ""]
        (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
        figures = _figures(store, tables["next_runs"])
        for name, figure in figures.items():
            (out / f"{name}.png").write_bytes(figure)
    print(f"wrote {len(tables)} tables and {len(figures)} figures to {out}")


def _markdown(frame: pl.DataFrame) -> str:
    cells = [[("" if v is None else str(v)).replace("|", "\\|") for v in row] for row in frame.rows()]
    head = f"| {' | '.join(frame.columns)} |\n|{'---|' * len(frame.columns)}"
    return "\n".join([head, *(f"| {' | '.join(r)} |" for r in cells)])


def _figures(store: dk.Store, runs: pl.DataFrame) -> dict[str, bytes]:
    """The plots of ``deploykit.plots`` as PNG bytes (none if that module is absent)."""
    try:
        from deploykit import plots
    except ImportError:
        return {}
    start = datetime.now(UTC)
    week = ops.preview_runs(store, start, start + timedelta(days=7))
    figures = {
        "schedule_timeline": plots.schedule_timeline(runs, lane="deployment_name"),
        "load_heatmap": plots.load_heatmap(week),
        "queue_matches": plots.queue_match_heatmap(ops.queue_matches(store, sort=True)),
    }
    return {name: plots.to_png(fig) for name, fig in figures.items()}


# --- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``deploykit`` command."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"the DuckDB store file (default: ./{DEFAULT_STORE} in the current directory)",
    )
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser = argparse.ArgumentParser(
        prog="deploykit", description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n")[1]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="import the sample fleet and print a summary")
    demo.add_argument("--store", default=None, help="a store file (default: in memory)")
    demo.add_argument("--data", help="the folder of API bodies (default: the repository's data/)")
    demo.add_argument("--top", type=int, default=10, help="rows per summary table")
    demo.set_defaults(run=cmd_demo)

    imp = sub.add_parser("import", parents=[store], help="import Prefect data into the store")
    imp.add_argument(
        "source",
        help="a folder of api-*.json bodies, a prefect.db file, a "
        "Parquet export folder, or an http(s) Prefect API URL",
    )
    imp.add_argument("--api-key", help="Prefect Cloud API key (for URLs)")
    imp.set_defaults(run=cmd_import)

    ls = sub.add_parser("ls", parents=[store, fmt], help="list deployments")
    ls.add_argument("--name-like", help="case-insensitive substring of the name")
    ls.add_argument("--tag", action="append", help="required tag (repeatable: all of them)")
    ls.add_argument("--flow", action="append", help="flow name (repeatable: any of them)")
    ls.add_argument("--work-queue", action="append", help="work queue name (repeatable)")
    ls.add_argument("--work-pool", action="append", help="work pool name (repeatable)")
    active = ls.add_mutually_exclusive_group()
    active.add_argument("--active", dest="active", action="store_true", default=None)
    active.add_argument("--inactive", dest="active", action="store_false")
    ls.add_argument("--sort", choices=[s.name.lower() for s in dk.DeploymentSort], default="name_asc")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--offset", type=int)
    ls.set_defaults(run=cmd_ls)

    preview = sub.add_parser("preview", parents=[store, fmt], help="next runs of a schedule")
    preview.add_argument("deployment", nargs="?", help="FLOW/DEPLOYMENT (or give a schedule)")
    preview.add_argument("--cron")
    preview.add_argument("--interval", type=float, help="seconds")
    preview.add_argument("--rrule")
    preview.add_argument("--timezone", help="IANA zone of --cron/--interval/--rrule")
    preview.add_argument("-n", type=int, default=10, help="how many runs (default 10)")
    preview.add_argument("--start", help="ISO 8601 start (default now)")
    preview.set_defaults(run=cmd_preview)

    match = sub.add_parser("match", parents=[store, fmt], help="which queues pick a deployment up")
    match.add_argument("deployment", help="FLOW/DEPLOYMENT or id")
    match.set_defaults(run=cmd_match)

    export = sub.add_parser("export", parents=[store], help="export the store")
    export.add_argument("format", choices=["parquet", "prefect-api"])
    export.add_argument("folder")
    export.set_defaults(run=cmd_export)

    report = sub.add_parser("report", parents=[store], help="summary tables and figures")
    report.add_argument("out_dir")
    report.add_argument("--hours", type=int, default=24, help="preview window (default 24)")
    report.set_defaults(run=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deploykit`` command; return its exit code.

    Examples
    --------
    >>> main(["preview", "--cron", "0 9 * * *", "--timezone", "UTC", "-n", "2",
    ...       "--start", "2024-01-01T00:00:00+00:00", "--format", "csv"])
    # At 09:00...
    run
    2024-01-01T09:00:00+00:00
    2024-01-02T09:00:00+00:00
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        args.run(args)
    except _USER_ERRORS as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"deploykit: error: {text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
