"""Operations, one module per entity (mirroring Prefect's ``server/models``), store first.

:mod:`deploykit.models.writer` is the one staged writer behind every write of rows: the
``create_*`` operations, the bulk ``create_deployments`` / ``create_flow_runs`` and the
importers of :mod:`deploykit.io`. :func:`filter_deployments` restricts a deployment query
by the six filter families, for the analyses above this layer (``deploykit.history``);
:class:`FleetFilters` names and types those families once, and :func:`takes_filters` spells
them out in the signature of each function that takes them as ``**filters``.
:func:`mark_rollups_stale` marks deployments whose runs a write outside the writer
deleted (the sync's deletes), so that the run-history rollups are recomputed for them.
"""

from deploykit.models import deployments, flow_runs, flows, task_runs, work_pools, work_queues, writer
from deploykit.models._deployment_query import filtered as filter_deployments
from deploykit.models._filters import FleetFilters, takes_filters
from deploykit.models._rollups import mark_query as mark_rollups_stale

__all__ = [
    "FleetFilters",
    "deployments",
    "filter_deployments",
    "flow_runs",
    "flows",
    "mark_rollups_stale",
    "takes_filters",
    "task_runs",
    "work_pools",
    "work_queues",
    "writer",
]
