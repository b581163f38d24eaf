"""Write ``RESULTS.md`` and the log-log scaling plot from the benchmark documents."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _compare import Comparison

Getter = Callable[[dict[str, Any], int], float | None]


@dataclass(frozen=True)
class Op:
    """One row of the side-by-side table: how to read each side's seconds per operation."""

    label: str
    peer: Getter | None
    dk: Getter
    how: str
    target: float | None = None


def _loop(doc_key: str, key: str, count: int | None = None) -> Getter:
    """Seconds per call of a timed loop (``peer_bench.py`` only gives the loop's total)."""

    def get(runs: dict[str, Any], n: int) -> float | None:
        doc = runs.get(doc_key)
        if doc is None or key not in doc["seconds"]:
            return None
        stat = doc.get("stats", {}).get(key)
        if stat and "per_op" in stat:
            return stat["per_op"]
        return doc["seconds"][key] / (count or n)

    return get


def _stat(doc_key: str, key: str, stat: str) -> Getter:
    """A repeated query's best or median seconds."""

    def get(runs: dict[str, Any], n: int) -> float | None:
        doc = runs.get(doc_key)
        if doc is None:
            return None
        if stat == "best" or "stats" not in doc:
            return doc["seconds"].get(key)
        return doc["stats"].get(key, {}).get(stat)

    return get


def _total(doc_key: str, key: str) -> Getter:
    """A whole loop or fleet-wide call, in seconds."""

    def get(runs: dict[str, Any], n: int) -> float | None:
        doc = runs.get(doc_key)
        if doc is None:
            return None
        stat = doc.get("stats", {}).get(key)
        if stat and "count" in stat and stat["count"] != n:
            return stat["per_op"] * n  # sampled loop, scaled to the whole fleet
        return doc["seconds"].get(key)

    return get


FAMILY_LABEL = {
    "flow": "flow name like",
    "flow_run": "flow-run state",
    "task_run": "task-run state",
    "deployment": "deployment tags",
    "work_pool": "work pool name",
    "work_queue": "work queue name",
}

OPS: list[Op] = [
    Op("create_deployment", _loop("peer", "create_deployment_each"),
       _loop("dk", "create_deployment_each"), "per call, loop", 10),
    Op("read_deployment (by id)", _loop("peer_extra", "read_by_id_200"),
       _loop("dk", "read_by_id_200"), "per call, loop of 200"),
    Op("read_deployment_by_name", _loop("peer", "read_by_name_200", 200),
       _loop("dk", "read_by_name_200"), "per call, loop of 200"),
    Op("read_deployments q1: tags, sorted, limit 50", _stat("peer", "q1_tags_sorted_limit", "best"),
       _stat("dk", "q1_tags_sorted_limit", "best"), "best of 5"),
    Op("read_deployments q2: flow name + active", _stat("peer", "q2_flowname_active", "best"),
       _stat("dk", "q2_flowname_active", "best"), "best of 5", 20),
    Op("count_deployments q3: flow-run state", _stat("peer", "q3_count_by_failed_runs", "best"),
       _stat("dk", "q3_count_by_failed_runs", "best"), "best of 5", 20),
    Op("count_deployments q4: work queue name", _stat("peer", "q4_count_by_queue", "best"),
       _stat("dk", "q4_count_by_queue", "best"), "best of 5"),
    Op("read_deployments q5: all, name desc", _stat("peer", "q5_read_all_name_desc", "best"),
       _stat("dk", "q5_read_all_name_desc", "best"), "best of 3"),
    *[
        Op(f"{verb}_deployments: {label}", _stat("peer_extra", f"{verb}_{fam}", "median"),
           _stat("dk", f"{verb}_{fam}", "median"), "median of 5 (3 above 1,000)",
           20 if fam in ("flow", "flow_run", "task_run") else None)
        for fam, label in FAMILY_LABEL.items()
        for verb in ("read", "count")
    ],
    Op("update_deployment", _loop("peer_extra", "update_200"), _loop("dk", "update_200"),
       "per call, loop of 200"),
    Op("delete_deployment", _loop("peer_extra", "delete_200"), _loop("dk", "delete_200"),
       "per call, loop of 200"),
    Op("schedule_runs (per deployment)", _loop("peer", "schedule_runs_all"),
       _loop("dk", "schedule_runs_all"), "per call, loop", 10),
    Op("check_work_queues_for_deployment", _loop("peer", "check_work_queues_all"),
       _loop("dk", "check_work_queues_all"), "per call, loop", 30),
    Op("schedule_all vs the peer's schedule_runs loop", _total("peer", "schedule_runs_all"),
       _total("dk", "schedule_all"), "whole fleet", 100),
    Op("queue_matches vs the peer's check loop", _total("peer", "check_work_queues_all"),
       _total("dk", "queue_matches_matrix"), "whole fleet, best of 3"),
    Op("preview_runs, 7 days, every deployment", None, _stat("dk", "preview_runs_7d", "median"),
       "median of 3"),
]  # fmt: skip

SCALE_TARGETS = {
    "read_by_id": ("point read by id", 0.001),
    "read_by_name": ("point read by name", 0.001),
    "page50": ("filtered page of 50 deployments", 0.020),
    "count_flow_run_state": ("count with a flow-run state filter", 0.200),
    "queue_matches": ("queue-match matrix 100k x 100", 2.0),
    "preview_1d": ("preview of every deployment's runs, one day", 3.0),
    "bulk_upsert": ("bulk upsert of 100k deployments", 5.0),
}


def fmt_s(value: float | None) -> str:
    """Seconds in the most readable unit."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def machine() -> list[str]:
    """Date, CPU, cores, RAM, versions and commit, as Markdown bullet lines."""
    import duckdb
    import polars

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1]) / 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    repo = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "deploykit"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return [
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, {platform.system()}",
        f"- Python {platform.python_version()}, DuckDB {duckdb.__version__}, Polars {polars.__version__}",
        f"- commit: {commit}" + (" plus uncommitted changes in deploykit/" if dirty else ""),
    ]


def side_by_side(n: int, runs: dict[str, Any]) -> list[str]:
    """The operation | peer | deploykit | ratio table at one size."""
    lines = [
        f"### {n:,} deployments",
        "",
        "| operation | how | peer | deploykit | peer / deploykit |",
        "|---|---|---:|---:|---:|",
    ]
    for op in OPS:
        p = op.peer(runs, n) if op.peer else None
        d = op.dk(runs, n)
        ratio = f"{p / d:.1f}x" if p and d else "-"
        lines.append(f"| {op.label} | {op.how} | {fmt_s(p)} | {fmt_s(d)} | {ratio} |")
    rss = ", ".join(f"{k} {v['peak_rss_mib']:.0f} MiB" for k, v in runs.items())
    lines += ["", f"Peak RSS per subprocess: {rss}.", ""]
    sampled = runs["dk"]["stats"]["create_deployment_each"]["count"]
    if sampled != n:
        lines += [
            f"deploykit's per-call loops ran on every {n // sampled}th deployment "
            f"({sampled} calls; the rest were created in bulk first); the peer's on all.",
            "",
        ]
    return lines


def answers(check: Comparison) -> list[str]:
    """The comparison of answers at one size."""
    lines = [f"### Answers at {check.n:,} deployments", ""]
    lines.append(f"Equal: {', '.join(check.equal) or 'none'}.")
    lines.append("")
    if check.explained or check.failures:
        lines += ["| answer | peer | deploykit | verdict |", "|---|---|---|---|"]
        for name, p, d, why in check.explained:
            lines.append(f"| {name} | `{_short(p)}` | `{_short(d)}` | allowed: {why} |")
        for name, p, d, why in check.failures:
            lines.append(f"| {name} | `{_short(p)}` | `{_short(d)}` | **FAILURE**: {why} |")
        lines.append("")
    diff = check.schedule_diff
    if diff:
        lines.append(
            f"Scheduled runs: {diff['common']} on both sides, {diff['peer_only']} only on the "
            f"peer, {diff['dk_only']} only in deploykit; by cause: "
            + ", ".join(f"{k} = {v}" for k, v in sorted(diff["by_kind"].items()))
            + "."
        )
        dst = {k: v for k, v in diff["cases"].items() if "dst" in v["kinds"]}
        if dst:
            lines += ["", "DST cases (every differing run of these deployments):", ""]
            lines += ["| deployment | schedule | peer only | deploykit only |", "|---|---|---|---|"]
            for dep, case in sorted(dst.items())[:25]:
                lines.append(
                    f"| {dep[:8]} | `{_short(case['schedule'], 70)}` | "
                    f"{', '.join(case['peer_only'])} | {', '.join(case['dk_only'])} |"
                )
            if len(dst) > 25:
                lines.append(f"| ... {len(dst) - 25} more deployments | | | |")
        lines.append("")
    return lines


def _short(value: Any, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def targets(results: dict[int, dict[str, Any]], scale: dict[str, Any] | None) -> list[str]:
    """Every target of issues 2, 3 and 6 with the figure reached."""
    lines = ["| target | figure | met |", "|---|---|---|"]
    if 1000 in results:
        runs = results[1000]
        for op in OPS:
            if op.target is None or op.peer is None:
                continue
            p, d = op.peer(runs, 1000), op.dk(runs, 1000)
            if p and d:
                met = "yes" if p / d >= op.target else "**no**"
                lines.append(f"| {op.label} >= {op.target:g}x vs peer (1,000) | {p / d:.1f}x | {met} |")
    big = next((r for n, r in sorted(results.items()) if n >= 10000), None)
    if big is not None:
        d = big["dk"]["stats"]["preview_runs_7d"]["median"]
        met = "yes" if d < 0.5 else "**no**"
        lines.append(f"| preview_runs 10,000 deployments x 7 days well under 1 s | {fmt_s(d)} | {met} |")
    if scale:
        for key, (label, limit) in SCALE_TARGETS.items():
            m = scale["ops"].get(key)
            if m:
                met = "yes" if m["median"] < limit else "**no**"
                lines.append(f"| {label} < {fmt_s(limit)} (100k / 10M) | {fmt_s(m['median'])} | {met} |")
        rss = max(m["peak_rss_mib"] for m in scale["ops"].values())
        met = "yes" if rss < 4096 else "**no**"
        lines.append(f"| peak RSS < 4 GiB (100k / 10M) | {rss:.0f} MiB | {met} |")
    return lines


def scale_table(scale: dict[str, Any]) -> list[str]:
    """Each 100k / 10M operation: median, first call, peak RSS."""
    lines = [
        f"Store: {scale['deployments']:,} deployments, {scale['work_queues']} work queues, "
        f"{scale['flow_runs']:,} flow runs, {scale['task_runs']:,} task runs; file "
        f"{scale['file_mib']:.0f} MiB. Built in {scale['build_s']:.0f} s: {scale['build_how']}.",
        "",
        "| operation | median | first call | repeats | peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in scale["ops"].values():
        lines.append(
            f"| {m['label']} | {fmt_s(m['median'])} | {fmt_s(m['first'])} | {m['reps']} | "
            f"{m['peak_rss_mib']:.0f} MiB |"
        )
    return lines


def plot(path: Path, results: dict[int, dict[str, Any]], scale: dict[str, Any] | None) -> None:
    """Log-log: seconds per operation vs deployments, deploykit solid, peer dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_label = {op.label: op for op in OPS}
    series = {
        "read_deployment (by id)": "read_by_id",
        "read_deployment_by_name": "read_by_name",
        "count_deployments q3: flow-run state": "count_flow_run_state",
        "create_deployment": None,
        "schedule_runs (per deployment)": "schedule_runs_one",
        "check_work_queues_for_deployment": "check_work_queues_one",
        "schedule_all vs the peer's schedule_runs loop": "schedule_all",
        "queue_matches vs the peer's check loop": "queue_matches",
    }
    fig, ax = plt.subplots(figsize=(9, 6))
    sizes = sorted(results)
    for i, (label, scale_key) in enumerate(series.items()):
        op = by_label[label]
        color = f"C{i}"
        xs = list(sizes)
        ys = [op.dk(results[n], n) for n in sizes]
        if scale and scale_key in scale["ops"]:
            xs.append(scale["deployments"])
            ys.append(scale["ops"][scale_key]["median"])
        ax.plot(xs, ys, "o-", color=color, label=label)
        if op.peer is not None:
            peer = [(n, op.peer(results[n], n)) for n in sizes if "peer" in results[n]]
            if peer:
                ax.plot(*zip(*peer, strict=True), "s--", color=color, alpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("deployments (flow runs: 5 per deployment; 10M at 100k)")
    ax.set_ylabel("seconds per operation")
    ax.set_title("deploykit (solid) vs Prefect 2.10 peer (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


OTHER_RESULTS = (
    "Measured by their own scripts, each with its figures, machine and load in its own file:",
    "run history at 100,000 deployments / 10,000,000 runs (`bench_history.py`):",
    "[HISTORY_RESULTS.md](HISTORY_RESULTS.md); importing 1,000,000 flow runs from Parquet, a",
    "Prefect database and PostgreSQL, and syncing (`bench_import.py`, `bench_pg_import.py`):",
    "[IMPORT_RESULTS.md](IMPORT_RESULTS.md); start-up time (`bench_startup.py`): `README.md`.",
)
"""The paragraph of RESULTS.md that points at the other benchmarks' result files."""


def pg_import_summary(results: Path) -> list[str]:
    """The PostgreSQL import's date and targets as ``bench_pg_import.py --write`` last recorded
    them in ``results`` (IMPORT_RESULTS.md), for RESULTS.md; nothing when it never ran."""
    text = results.read_text() if results.exists() else ""
    text = text.split("<!-- bench_pg_import: begin -->")[-1].split("<!-- bench_pg_import: end -->")[0]
    date = next((x.removeprefix("- date: ") for x in text.splitlines() if x.startswith("- date: ")), "")
    found = [x for x in text.splitlines() if x.startswith("Targets, on the calls")]
    if not found:
        return []
    return ["", f"PostgreSQL, 1,000,000 flow runs (`bench_pg_import.py`, {date}): {found[-1]}"]


def write_results(
    out: Path,
    results: dict[int, dict[str, Any]],
    checks: list[Comparison],
    scale: dict[str, Any] | None,
    peer: Path | None,
    args: argparse.Namespace,
    elapsed: float,
) -> None:
    """RESULTS.md and scaling.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plot(out / "scaling.png", results, scale)
    command = "python benchmarks/run.py " + " ".join(
        flag
        for flag, on in (("--quick", args.quick), ("--scale", args.scale), ("--no-peer", args.no_peer))
        if on
    )
    lines = ["# deploykit benchmark results", "", *machine()]
    lines += [
        f"- command: `{command.strip()}` (sizes {', '.join(f'{n:,}' for n in results)}, "
        f"{args.repeats} run(s) of each subprocess; {elapsed / 60:.1f} min in all)",
        f"- peer: {peer or 'not run'}",
        "",
        "Generated by `benchmarks/run.py`. What bounds each missed target, with the profiling",
        "evidence and the fixes proposed: `benchmarks/README.md`, section *Analysis*.",
        "",
        *OTHER_RESULTS,
        *pg_import_summary(out.parent / "IMPORT_RESULTS.md"),
        "",
        "## Targets",
        "",
        *targets(results, scale),
        "",
        "## Side by side with Prefect 2.10",
        "",
        "Ratios above 1 mean deploykit is faster. `best of k` rows use `peer_bench.py`'s own",
        "statistic on both sides; `median` rows come from `peer_extra.py` and `dk_bench.py`.",
        "",
    ]
    for n, runs in results.items():
        lines += side_by_side(n, runs)
    lines += ["## Answers compared", ""]
    for check in checks:
        lines += answers(check)
    if scale:
        lines += ["## 100,000 deployments / 10,000,000 flow runs", "", *scale_table(scale), ""]
    lines += ["## Scaling", "", "![scaling](scaling.png)", ""]
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")
