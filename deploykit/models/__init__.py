"""Operations, one module per entity (mirroring Prefect's ``server/models``), store first.

:mod:`deploykit.models.writer` is the one staged writer behind every write of rows: the
``create_*`` operations, the bulk ``create_deployments`` / ``create_flow_runs`` and the
importers of :mod:`deploykit.io`.
"""

from deploykit.models import deployments, flow_runs, flows, task_runs, work_pools, work_queues, writer

__all__ = ["deployments", "flow_runs", "flows", "task_runs", "work_pools", "work_queues", "writer"]
