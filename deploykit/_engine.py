"""The Polars engine that deploykit's own lazy queries are collected with."""

from __future__ import annotations

from typing import Final, Literal

POLARS_ENGINE: Final[Literal["in-memory"]] = "in-memory"
"""Polars 2 collects with its streaming engine by default, which adds milliseconds of
start-up to every query. deploykit's queries are many and small to medium (a schedule
expansion, a load summary), where the in-memory engine is 3-6x faster."""
