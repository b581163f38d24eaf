"""What every command shares: the store and format options, opening, printing, lookups."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from deploykit._errors import DeploykitError, ObjectNotFoundError, StoreError

if TYPE_CHECKING:
    import polars as pl

    from deploykit.schemas.core import Deployment
    from deploykit.store import Store

DEFAULT_STORE = "deploykit.duckdb"


def store_options() -> argparse.ArgumentParser:
    """A parent parser with ``--store``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"the DuckDB store file (default: ./{DEFAULT_STORE} in the current directory)",
    )
    return parent


def format_options() -> argparse.ArgumentParser:
    """A parent parser with ``--format table|csv|json``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--format", choices=["table", "csv", "json"], default="table")
    return parent


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports bad input (printed as one line) rather than a bug."""
    if isinstance(exc, DeploykitError | ValueError | OSError):
        return True
    return type(exc).__module__.startswith("pydantic")  # ValidationError, without importing pydantic


def error_text(exc: BaseException) -> str:
    """``exc`` as one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Store:
    """The store of ``--store`` (in memory for ``None`` or ``:memory:``)."""
    from deploykit.store import Store

    if args.store in (None, ":memory:"):
        return Store()
    if read_only and not Path(args.store).exists():
        raise StoreError(f"store {args.store} does not exist; run `deploykit import` first")
    return Store(args.store, read_only=read_only)


def emit(frame: pl.DataFrame, fmt: str) -> None:
    """Print ``frame`` as an aligned table, CSV or JSON records."""
    import polars as pl

    if fmt == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=2))
        return
    flat = frame.with_columns(pl.col(pl.List(pl.String)).list.join(","))
    if fmt == "csv":
        print(flat.write_csv(), end="")
        return
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        print(flat)


def find_deployment(store: Store, ref: str) -> Deployment:
    """A deployment by ``FLOW/DEPLOYMENT`` or id."""
    from deploykit.models import deployments as ops

    flow, sep, name = ref.partition("/")
    found = ops.read_deployment_by_name(store, name, flow) if sep else ops.read_deployment(store, ref)
    if found is None:
        raise ObjectNotFoundError(f"no deployment {ref!r} (give FLOW/DEPLOYMENT or an id)")
    return found
