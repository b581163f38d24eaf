"""Operations, one module per entity (mirroring Prefect's ``server/models``), store first.

:mod:`deploykit.models.writer` is the one staged writer behind every write of rows: the
``create_*`` operations, the bulk ``create_deployments`` / ``create_flow_runs`` and the
importers of :mod:`deploykit.io`. :func:`filter_deployments` restricts a deployment query
by the six filter families, for the analyses above this layer (``deploykit.history``);
:class:`FleetFilters` names and types those families once, and :func:`takes_filters` spells
them out in the signature of each function that takes them as ``**filters``.
:func:`delete_gone` and :func:`delete_deferred` delete what a synced source no longer
has, as Prefect's foreign keys did in the source.
"""

from deploykit.models import deployments, flow_runs, flows, task_runs, work_pools, work_queues, writer
from deploykit.models._deployment_query import filtered as filter_deployments
from deploykit.models._filters import FleetFilters, takes_filters
from deploykit.models._mirror import delete_deferred, delete_gone

__all__ = [
    "FleetFilters",
    "delete_deferred",
    "delete_gone",
    "deployments",
    "filter_deployments",
    "flow_runs",
    "flows",
    "takes_filters",
    "task_runs",
    "work_pools",
    "work_queues",
    "writer",
]
