"""Name the deployments a fleet operation skipped because their schedule cannot be expanded."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import polars as pl

from deploykit._errors import ScheduleSkippedWarning


def warn_skipped(
    operation: str,
    deployments: pl.DataFrame,
    texts: list[str],
    failed: Mapping[int, ValueError],
    *,
    stacklevel: int = 3,
) -> None:
    """One :class:`ScheduleSkippedWarning` per deployment whose schedule text failed.

    ``deployments`` has ``name``, ``id`` and ``schedule`` (the stored JSON text);
    ``failed`` maps a position in ``texts`` to its error, as
    ``deploykit.scheduling.expand_checked`` reports it. The warning points at the caller
    of ``operation`` (``stacklevel`` counted from here: 3 when ``operation`` calls this).
    """
    errors = {texts[key]: error for key, error in failed.items()}
    skipped = deployments.filter(pl.col("schedule").is_in(list(errors))).sort("name", "id")
    for name, dep_id, text in skipped.select("name", pl.col("id").cast(pl.String), "schedule").iter_rows():
        reason = " ".join(str(errors[text]).split())
        warnings.warn(
            f"{operation} skipped deployment {name!r} ({dep_id}): its schedule cannot be expanded: {reason}",
            ScheduleSkippedWarning,
            stacklevel=stacklevel,
        )
