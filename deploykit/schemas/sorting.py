"""Sort orders for deployment reads (Prefect's ``DeploymentSort``)."""

from __future__ import annotations

from enum import StrEnum


class DeploymentSort(StrEnum):
    """How ``read_deployments`` orders its rows; ties always break by id."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
