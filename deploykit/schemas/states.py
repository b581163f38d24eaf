"""Flow and task run state types, as Prefect names them."""

from __future__ import annotations

from enum import StrEnum


class StateType(StrEnum):
    """The type of a run's state (Prefect's ``StateType``)."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"
