"""What every command shares: options, opening the store, printing, naming deployments, errors."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from deploykit._errors import DeploykitError, ObjectNotFoundError, StoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from deploykit.schemas.core import Deployment
    from deploykit.store import Store

DEFAULT_STORE = "deploykit.duckdb"
MAX_COUNT = 2**63 - 1
"""Largest ``--limit`` / ``--offset`` (DuckDB's BIGINT)."""
JSON_COLUMNS = frozenset(
    {
        "schedule",
        "parameters",
        "infra_overrides",
        "pull_steps",
        "parameter_openapi_schema",
        "flow_runner",
        "created_by",
        "updated_by",
        "filter",
        "base_job_template",
        "job_variables",
    }
)
"""Columns the frames hold as JSON text; ``--format json`` prints them as objects and lists."""
TIMESTAMP = "%Y-%m-%dT%H:%M:%S%.f%:z"
"""The one timestamp format of every output: ISO 8601 with the offset (fraction only when not
zero); wall-clock times (``local_time``) without the offset, their zone in a ``timezone`` column."""
_PYDANTIC_URL = re.compile(r"\s*For further information visit \S+")


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number from 0 to 2**63 - 1 (for ``--limit`` / ``--offset``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_COUNT}, got {text}")
    return value


def add_timeout(parser: argparse.ArgumentParser) -> None:
    """Add ``--timeout`` (how long to wait for a store file another process holds)."""
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=0.0,
        help="seconds to wait while another process (a notebook, another command) holds the store "
        "file (default 0: fail at once)",
    )


def store_options() -> argparse.ArgumentParser:
    """A parent parser with ``--store`` and ``--timeout``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"the DuckDB store file (default: ./{DEFAULT_STORE} in the current directory)",
    )
    add_timeout(parent)
    return parent


def format_options() -> argparse.ArgumentParser:
    """A parent parser with ``--format table|csv|json``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--format", choices=["table", "csv", "json"], default="table")
    return parent


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports bad input (its message is the whole story) rather than a bug."""
    if isinstance(exc, DeploykitError | ValueError | OSError):
        return True
    return type(exc).__module__.startswith("pydantic")  # ValidationError, without importing pydantic


def error_text(exc: BaseException) -> str:
    """``exc`` as one human line: pydantic's errors as ``field: message``, no URLs, no line breaks."""
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    errors = getattr(exc, "errors", None)
    if type(exc).__module__.startswith("pydantic") and callable(errors):
        parts = []
        for error in errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or "value"
            parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        text = f"invalid {getattr(exc, 'title', 'input')}: " + "; ".join(parts)
    else:
        text = str(exc)
    text = " ".join(_PYDANTIC_URL.sub("", text).split())
    if is_user_error(exc):
        return text or type(exc).__name__
    return f"unexpected {type(exc).__name__}: {text} (set DEPLOYKIT_TRACEBACK=1 to see where)"


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Store:
    """The store of ``--store`` (in memory for ``None`` or ``:memory:``), waiting ``--timeout``."""
    from deploykit.store import Store

    timeout = getattr(args, "timeout", 0.0)
    if args.store in (None, ":memory:"):
        return Store()
    if read_only and not Path(args.store).exists():
        raise StoreError(f"store {args.store} does not exist; run `deploykit import` first")
    return Store(args.store, read_only=read_only, timeout=timeout)


def printable(frame: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """``frame`` with timestamps as ISO 8601 text; lists joined by commas except in JSON."""
    import polars as pl

    aware = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    naive = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and not t.time_zone]
    frame = frame.with_columns(
        pl.col(aware).dt.to_string(TIMESTAMP), pl.col(naive).dt.to_string(TIMESTAMP.removesuffix("%:z"))
    )
    if fmt != "json":
        frame = frame.with_columns(pl.col(pl.List(pl.String)).list.join(","))
    return frame


def records(frame: pl.DataFrame, *, json_columns: frozenset[str] = frozenset()) -> list[dict]:
    """``frame``'s rows as JSON-ready dicts: ISO timestamps, lists as lists, ``json_columns`` decoded."""
    import polars as pl

    shown = printable(frame, "json")
    rows = shown.to_dicts()
    decode = [c for c in shown.columns if c in json_columns and shown.schema[c] == pl.String]
    for row in rows:
        for column in decode:
            if row[column] is not None:
                row[column] = json.loads(row[column])
    return rows


def emit(frame: pl.DataFrame, fmt: str, *, json_columns: frozenset[str] = frozenset()) -> None:
    """Print ``frame`` as an aligned table, CSV, or JSON records (``json_columns`` as objects)."""
    import polars as pl

    if fmt == "json":
        print(json.dumps(records(frame, json_columns=json_columns), default=str, indent=2))
        return
    shown = printable(frame, fmt)
    if fmt == "csv":
        print(shown.write_csv(), end="")
    else:
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=2000, tbl_hide_dataframe_shape=True
        ):
            print(shown)


_FORMS = "FLOW/DEPLOYMENT, a deployment name no other flow uses, or a deployment id"


def find_deployment(store: Store, ref: str) -> Deployment:
    """The deployment ``ref`` names: ``FLOW/DEPLOYMENT``, a bare unique name, or an id.

    Raises
    ------
    ObjectNotFoundError
        Nothing matches (the message lists the forms, with an example from the store),
        or a bare name is used by several flows (the message lists them).
    """
    from uuid import UUID

    from deploykit.models import deployments as ops

    try:
        found = ops.read_deployment(store, UUID(ref))
    except ValueError:
        found = None
    if found is not None:
        return found
    flow, sep, name = ref.partition("/")
    if sep:
        found = ops.read_deployment_by_name(store, name, flow)
    else:
        same = _qualified(store, ops.read_deployments(store, deployment_filter={"name": {"any_": [ref]}}))
        if len(same) > 1:
            raise ObjectNotFoundError(
                f"deployment name {ref!r} is used by {len(same)} flows ({', '.join(same)}); "
                "give FLOW/DEPLOYMENT"
            )
        found = ops.read_deployment_by_name(store, ref, same[0].partition("/")[0]) if same else None
    if found is None:
        example = _qualified(store, ops.read_deployments(store, limit=1))
        hint = f", e.g. {example[0]}" if example else " (the store has no deployments)"
        raise ObjectNotFoundError(f"no deployment {ref!r}; name one as {_FORMS}{hint}")
    return found


def _qualified(store: Store, deployments: pl.DataFrame) -> list[str]:
    """``flow/deployment`` names of ``deployments`` rows."""
    from deploykit.models.flows import read_flows

    ids = deployments["flow_id"].unique().to_list()
    flows = dict(read_flows(store, {"id": {"any_": ids}}).select("id", "name").iter_rows()) if ids else {}
    return [f"{flows.get(f, '?')}/{n}" for f, n in deployments.select("flow_id", "name").iter_rows()]


def with_names(store: Store, deployments: pl.DataFrame) -> pl.DataFrame:
    """``deployments`` plus ``deployment`` (``flow/name``), ``flow_name`` and ``work_pool_name``."""
    import polars as pl

    from deploykit.models.flows import read_flows
    from deploykit.models.work_queues import read_work_queues

    flows = read_flows(store).select(flow_id="id", flow_name="name")
    pools = read_work_queues(store).select(work_queue_id="id", work_pool_name="work_pool_name")
    drop = [c for c in ("flow_name", "work_pool_name") if c in deployments.columns]
    return (
        deployments.drop(drop)
        .join(flows, on="flow_id", how="left", maintain_order="left")
        .join(pools, on="work_queue_id", how="left", maintain_order="left")
        .with_columns(deployment=pl.format("{}/{}", "flow_name", "name"))
    )


def names_first(frame: pl.DataFrame, first: Sequence[str]) -> pl.DataFrame:
    """The columns ``first`` (those ``frame`` has) first, ids last, the rest as read: what a
    person names a row by leads, what only code needs trails."""
    leading = [c for c in first if c in frame.columns]
    ids = [c for c in frame.columns if c == "id" or c.endswith("_id")]
    return frame.select(*leading, *(c for c in frame.columns if c not in leading and c not in ids), *ids)
