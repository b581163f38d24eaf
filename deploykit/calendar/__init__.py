"""Pure time logic (no pydantic): durations typed by people."""

from deploykit.calendar._durations import parse_interval

__all__ = ["parse_interval"]
