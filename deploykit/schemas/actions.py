"""Partial-update models (Prefect's ``schemas.actions``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from deploykit.schemas.base import DeploykitModel, Name
from deploykit.schemas.schedules import Schedule


class DeploymentUpdate(DeploykitModel):
    """Fields ``update_deployment`` may change; only the fields you set are written.

    ``work_pool_name`` is not stored: it selects the pool whose queue the deployment uses.

    Examples
    --------
    >>> sorted(DeploymentUpdate(tags=["prod"]).model_fields_set)
    ['tags']
    """

    version: str | None = None
    schedule: Schedule | None = None
    description: str | None = None
    is_schedule_active: bool | None = None
    parameters: dict[str, Any] | None = None
    tags: list[str] | None = None
    work_queue_name: Name | None = None
    work_pool_name: Name | None = None
    path: str | None = None
    infra_overrides: dict[str, Any] | None = None
    entrypoint: str | None = None
    manifest_path: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
