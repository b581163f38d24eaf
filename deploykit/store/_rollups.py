"""Run-history rollups (schema 5): what ``deploykit.history`` reads instead of every run.

Two summary tables hold, per deployment id found in ``flow_run``, the values SPEC.md
section 7 defines that do not depend on ``as_of``; a third lists the deployments whose
summaries are out of date:

- ``run_rollup_deployment``: one row per deployment: counts by state, duration p50 / p95,
  the sorted lateness of its started runs (and their p50 / p95), the expected start
  (epoch microseconds) of each SCHEDULED / PENDING run not started (their lateness is
  ``as_of`` minus it, added when read), the last started run's state and start, the
  failure streak.
- ``run_rollup_day``: one row per deployment and UTC day of expected start with a
  duration: count, mean, min, p50 / p90 / p95 / p99, max. ``pos`` numbers the rows in
  ``(deployment_id, day)`` order as written, so a reader can check that a plain scan
  gave them in that order (and sort only when it did not); ``dep`` is the deployment's
  number in ``run_rollup_day_ids`` (in id order): a reader exports millions of small
  integers and 100,000 ids, not millions of ids.
- ``run_rollup_stale``: deployments whose runs changed since their rows were computed.
  Writers add to it in their transaction (``deploykit.models`` marks every flow-run
  write and delete); readers compute those deployments from their runs, exactly as
  without rollups; :data:`REFRESH_SQL` recomputes them and empties it.

Every value is computed by the same SQL expressions and aggregates the readers' raw
queries use, so a rollup value equals the raw one.
"""

from __future__ import annotations

from deploykit._time_units import DAY_US  # the ``day`` of ``run_rollup_day`` is a multiple of it

DURATION_SQL = "(epoch_us(fr.end_time) - epoch_us(fr.start_time)) / 1e6"
"""Seconds from start to end; null unless the run has both."""

STARTED_LATENESS_SQL = (
    "CASE WHEN fr.start_time IS NOT NULL AND fr.expected_start_time IS NOT NULL "
    "THEN greatest(epoch_us(fr.start_time) - epoch_us(fr.expected_start_time), 0) / 1e6 END"
)
"""Lateness of a run that started (null when it has no start or no expected start;
``greatest`` alone would make it 0)."""

ROLLUP_DDL = """
CREATE TABLE run_rollup_deployment (
    deployment_id UUID PRIMARY KEY,
    runs BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    crashed BIGINT NOT NULL,
    cancelled BIGINT NOT NULL,
    terminal BIGINT NOT NULL,
    duration_p50 DOUBLE,
    duration_p95 DOUBLE,
    lateness_p50 DOUBLE,
    lateness_p95 DOUBLE,
    started_lateness DOUBLE[] NOT NULL,
    waiting BIGINT[] NOT NULL,
    last_state_type VARCHAR,
    last_start_time TIMESTAMPTZ,
    failure_streak BIGINT NOT NULL
);
CREATE TABLE run_rollup_day (
    pos BIGINT NOT NULL,
    dep INTEGER NOT NULL,
    day BIGINT,
    count BIGINT NOT NULL,
    mean DOUBLE,
    min DOUBLE,
    p50 DOUBLE,
    p90 DOUBLE,
    p95 DOUBLE,
    p99 DOUBLE,
    max DOUBLE
);
CREATE TABLE run_rollup_day_ids (dep INTEGER NOT NULL, deployment_id VARCHAR NOT NULL);
CREATE TABLE run_rollup_stale (deployment_id UUID PRIMARY KEY);
"""
"""The rollup tables of a new store (and of the migration to schema 5)."""

ROLLUP_TABLES = ("run_rollup_deployment", "run_rollup_day", "run_rollup_day_ids", "run_rollup_stale")

_STALE = "(SELECT deployment_id FROM run_rollup_stale)"

_RUNS = f"""
WITH runs AS (
    SELECT fr.id, fr.deployment_id, fr.state_type, fr.expected_start_time, fr.start_time,
        {DURATION_SQL} AS duration, {STARTED_LATENESS_SQL} AS lateness
    FROM flow_run AS fr WHERE fr.deployment_id IN {_STALE}
)"""

ORDER_KEY = "struct_pack(t := coalesce({p}expected_start_time, TIMESTAMPTZ '-infinity'), i := {p}id)"
"""Recency of a terminal run: expected start, ties by id; runs without one count as oldest."""

STREAK_SQL = """streak AS (
    SELECT r.deployment_id, count(*) AS failure_streak
    FROM runs AS r JOIN agg AS a ON a.deployment_id = r.deployment_id
    WHERE r.state_type IN ('FAILED', 'CRASHED') AND (a.last_ok IS NULL OR {r_key} > a.last_ok)
    GROUP BY r.deployment_id
)""".format(r_key=ORDER_KEY.format(p="r."))
"""Each deployment's failure streak, from ``runs`` and ``agg`` (which has ``last_ok``)."""

STATE_AGGREGATES = """count(*) AS runs,
        count(*) FILTER (WHERE state_type = 'COMPLETED') AS completed,
        count(*) FILTER (WHERE state_type = 'FAILED') AS failed,
        count(*) FILTER (WHERE state_type = 'CRASHED') AS crashed,
        count(*) FILTER (WHERE state_type = 'CANCELLED') AS cancelled,
        count(*) FILTER (WHERE state_type IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED')) AS terminal,
        quantile_cont(duration, [0.5, 0.95]) AS dq,
        quantile_cont(lateness, [0.5, 0.95]) AS lq,
        arg_max(state_type, struct_pack(t := start_time, i := id))
            FILTER (WHERE start_time IS NOT NULL) AS last_state_type,
        max(start_time) AS last_start_time,
        max({order_key}) FILTER (WHERE state_type IN ('COMPLETED', 'CANCELLED')) AS last_ok""".format(
    order_key=ORDER_KEY.format(p="")
)
"""The per-deployment aggregates over ``runs`` that the rollup and the raw health query share."""

_DEPLOYMENTS = f"""
INSERT INTO run_rollup_deployment {_RUNS},
agg AS (
    SELECT deployment_id, {STATE_AGGREGATES},
        coalesce(list_sort(list(lateness) FILTER (WHERE lateness IS NOT NULL)), []) AS started_lateness,
        coalesce(list(epoch_us(expected_start_time)) FILTER (
            WHERE start_time IS NULL AND state_type IN ('SCHEDULED', 'PENDING')
                AND expected_start_time IS NOT NULL), []) AS waiting
    FROM runs GROUP BY deployment_id
),
{STREAK_SQL}
SELECT a.deployment_id, a.runs, a.completed, a.failed, a.crashed, a.cancelled, a.terminal,
    a.dq[1], a.dq[2], a.lq[1], a.lq[2], a.started_lateness, a.waiting, a.last_state_type,
    a.last_start_time, coalesce(s.failure_streak, 0)
FROM agg AS a LEFT JOIN streak AS s ON s.deployment_id = a.deployment_id;
"""


def day_sql(column: str) -> str:
    """The UTC day (epoch microseconds, floored) of a timestamp column, as the raw
    ``every="1d"`` bucket computes it."""
    offset = f"epoch_us({column})"
    return f"({offset} - ((({offset}) % {DAY_US}) + {DAY_US}) % {DAY_US})"


_DAYS = f"""
CREATE TEMP TABLE _dk_rollup_day AS
SELECT i.deployment_id, d.day, d.count, d.mean, d.min, d.p50, d.p90, d.p95, d.p99, d.max
    FROM run_rollup_day AS d JOIN run_rollup_day_ids AS i ON i.dep = d.dep
    WHERE i.deployment_id NOT IN (SELECT CAST(deployment_id AS VARCHAR) FROM run_rollup_stale)
UNION ALL
SELECT CAST(deployment_id AS VARCHAR), day, count, mean, min, q[1], q[2], q[3], q[4], max
FROM (
    SELECT deployment_id, day, count(duration) AS count, avg(duration) AS mean, min(duration) AS min,
        quantile_cont(duration, [0.5, 0.9, 0.95, 0.99]) AS q, max(duration) AS max
    FROM (
        SELECT fr.deployment_id, {day_sql("fr.expected_start_time")} AS day, {DURATION_SQL} AS duration
        FROM flow_run AS fr WHERE fr.deployment_id IN {_STALE}
    ) WHERE duration IS NOT NULL GROUP BY ALL
);
DELETE FROM run_rollup_day_ids;
INSERT INTO run_rollup_day_ids
    SELECT CAST(dense_rank() OVER (ORDER BY deployment_id) - 1 AS INTEGER), deployment_id
    FROM (SELECT DISTINCT deployment_id FROM _dk_rollup_day);
DELETE FROM run_rollup_day;
INSERT INTO run_rollup_day
    SELECT row_number() OVER (ORDER BY d.deployment_id, d.day NULLS LAST) AS pos, i.dep, d.day, d.count,
        d.mean, d.min, d.p50, d.p90, d.p95, d.p99, d.max
    FROM _dk_rollup_day AS d JOIN run_rollup_day_ids AS i ON i.deployment_id = d.deployment_id
    ORDER BY pos;
DROP TABLE _dk_rollup_day;
"""

REFRESH_SQL = (
    f"DELETE FROM run_rollup_deployment WHERE deployment_id IN {_STALE};\n"
    + _DEPLOYMENTS
    + _DAYS
    + "DELETE FROM run_rollup_stale;\n"
)
"""Recompute the rollups of the stale deployments (all of ``run_rollup_day`` is rewritten
in order) and empty ``run_rollup_stale``; the caller owns the transaction."""

BUILD_SQL = (
    "INSERT OR IGNORE INTO run_rollup_stale "
    "SELECT DISTINCT deployment_id FROM flow_run WHERE deployment_id IS NOT NULL;\n" + REFRESH_SQL
)
"""Compute the rollups of every deployment with runs (the migration to schema 5)."""
