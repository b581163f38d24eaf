"""The Polars engines that deploykit's own lazy queries are collected with."""

from __future__ import annotations

from typing import Final, Literal

POLARS_ENGINE: Final[Literal["in-memory"]] = "in-memory"
"""Polars 2 collects with its streaming engine by default, which adds milliseconds of
start-up to every query. deploykit's queries are many and small to medium (a schedule
expansion, a load summary), where the in-memory engine is 3-6x faster."""

STREAMING_ENGINE: Final[Literal["streaming"]] = "streaming"
"""For results of millions of rows (the full queue-match matrix of a large fleet): DuckDB
hands its result to Polars batch by batch instead of materialising it whole first, which
lowers peak memory by about a quarter at 100,000 deployments x 101 queues."""
