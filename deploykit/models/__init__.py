"""Operations, one module per entity (mirroring Prefect's ``server/models``), store first."""

from deploykit.models import deployments, flow_runs, flows, task_runs, work_pools, work_queues

__all__ = ["deployments", "flow_runs", "flows", "task_runs", "work_pools", "work_queues"]
