"""Filters: Prefect's filter models, compiled to DuckDB SQL and to Polars expressions.

One predicate tree per filter is the single source of truth: :class:`SqlCompiler`
turns it into sqlglot conditions with bound parameters for the store, and
:func:`to_polars` into a Polars expression for any DataFrame with the same columns.
"""

from deploykit.filters._polars import to_polars
from deploykit.filters._sql import SqlCompiler
from deploykit.schemas.filters import *  # noqa: F403 - the filter classes, re-exported
from deploykit.schemas.filters import __all__ as _filter_names

__all__ = ["SqlCompiler", "to_polars", *_filter_names]
