"""Run history: what the fleet did, not only what it will do (SPEC.md section 7).

Every function takes the store first, then keywords: a window ``[since, until)`` on
expected start time, and the six deployment filters of ``read_deployments``. Each is
one DuckDB statement over the whole history (no sampling, no Python loop over runs)
and returns a polars.DataFrame; durations and lateness are in seconds. Two calls read
the store's rollups instead (schema 5, kept by the writer; exact, the same frame):
``deployment_health`` without a window and ``run_metrics("duration",
by="deployment_id", every="1d")`` over whole UTC days.

- :func:`deployment_health`: one row per deployment: counts by terminal state,
  success rate, failure streak, last state, duration and lateness percentiles, runs
  late now, and a ``status`` to read at a glance.
- :func:`run_metrics`: duration or lateness statistics grouped by deployment, flow,
  pool, queue or state, and bucketed by period.
- :func:`missed_runs`: scheduled dates in a window that got no run.
- :func:`late_runs`: unstarted runs past their time, with their pool's and queue's pause.
- :func:`run_counts` (runs per state and day) and :func:`recent_runs` (the newest runs
  with duration and lateness): the data of the activity heatmap and the state timeline.
"""

from deploykit.history._health import STATUSES, deployment_health
from deploykit.history._metrics import run_counts, run_metrics
from deploykit.history._missed import late_runs, missed_runs
from deploykit.history._runs import recent_runs

__all__ = [
    "STATUSES",
    "deployment_health",
    "late_runs",
    "missed_runs",
    "recent_runs",
    "run_counts",
    "run_metrics",
]
