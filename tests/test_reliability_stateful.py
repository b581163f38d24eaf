"""Stateful fuzzing: hypothesis interleaves deployment upserts, updates, deletes, flow runs,
``schedule_runs`` and reads, and after every step compares the store with a small
pure-Python model of SPEC.md:

* upsert on (flow, name): a new deployment takes every field (defaults for unset ones);
  an existing one takes only the fields set and keeps its id;
* an upsert or update of an existing deployment deletes its auto-scheduled runs still in
  SCHEDULED state; a delete removes all its SCHEDULED runs and keeps the others;
* ``schedule_runs`` creates each date once (idempotency key), nothing for an unscheduled
  or paused deployment; ``create_flow_run`` with a used (flow, idempotency key) creates
  nothing;
* a queue picks a deployment up when the queue filter's tags are a subset of its tags;
* counts, filters (tags, flow name, flow run state) and ``check_integrity`` agree;
* schedules at the limits of ``deploykit.calendar`` (issue 15): the hostile ones are
  refused at validation and change nothing; the extreme but valid ones (sparse rules,
  anchors at ``MIN_YEAR`` / ``MAX_YEAR``, ``MAX_INTERVAL``) are stored, and
  ``schedule_runs``, ``schedule_all`` and ``preview_runs`` give exactly their
  ``get_dates``, with no deployment skipped.

CI runs ``DEPLOYKIT_FUZZ_EXAMPLES`` examples (default 50) of up to
``DEPLOYKIT_FUZZ_STEPS`` steps (default 25). For a longer maintainer run::

    DEPLOYKIT_FUZZ_EXAMPLES=2000 DEPLOYKIT_FUZZ_STEPS=60 \\
        .venv/bin/pytest tests/test_reliability_stateful.py -s

The number of examples and steps run is printed (``-s``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import hypothesis.strategies as st
import pydantic
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tests_support import EXTREME_SCHEDULES, REFUSED_SCHEDULES

import deploykit as dk
from deploykit.models import deployments as D
from deploykit.models import flow_runs, flows, work_queues
from deploykit.schemas.schedules import parse_schedule

EXAMPLES = int(os.environ.get("DEPLOYKIT_FUZZ_EXAMPLES", "50"))
STEPS = int(os.environ.get("DEPLOYKIT_FUZZ_STEPS", "25"))

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
NAMES = ["a", "b", "c"]
TAGS = ["prod", "gpu", "dev"]
QUEUE_FILTERS = {"all": [], "prod-only": ["prod"], "prod-gpu": ["prod", "gpu"]}
"""Queues made at setup (in the default pool) and the tags their filters require."""
QUEUE_NAMES = ["etl", "ml"]
STATES = ["SCHEDULED", "COMPLETED", "FAILED"]

RUN_COUNTS = {"examples": 0, "steps": 0}


@dataclass
class ModelDeployment:
    id: UUID
    flow: int
    name: str
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    hours: int | None = None  # interval schedule in hours, anchored at ANCHOR
    extreme: str | None = None  # else a schedule of EXTREME_SCHEDULES, by name
    active: bool = True
    queue: str | None = None


@dataclass
class ModelRun:
    flow: int
    deployment: UUID | None
    state: str
    auto: bool
    key: tuple[Any, ...] | None  # the idempotency key, modelled


def _schedule(hours: int) -> dict[str, Any]:
    return {"interval": hours * 3600, "anchor_date": ANCHOR.isoformat()}


def _kind(dep: ModelDeployment) -> str | None:
    """The deployment's schedule type, as ``read_deployments`` reports it."""
    if dep.hours:
        return "interval"
    if dep.extreme is None:
        return None
    return next(k for k in ("interval", "cron", "rrule") if k in EXTREME_SCHEDULES[dep.extreme])


def _window(start: datetime, count: int) -> dict[str, Any]:
    """The scheduling arguments of the rules: ``count`` runs from ``start``, within 10 days."""
    return {
        "start_time": start,
        "end_time": start + timedelta(days=10),
        "min_time": timedelta(0),
        "min_runs": count,
        "max_runs": count,
    }


def _dates(dep: ModelDeployment, start: datetime, count: int) -> list[datetime]:
    """The first ``count`` dates of the deployment's schedule in ``[start, start + 10 days]``."""
    if count == 0 or not dep.active:
        return []
    if dep.hours:
        step = timedelta(hours=dep.hours)
        first = ANCHOR + step * -(-(start - ANCHOR) // step)  # first date >= start
        return [first + step * k for k in range(count)]
    if dep.extreme is not None:
        schedule = parse_schedule(EXTREME_SCHEDULES[dep.extreme])
        return schedule.get_dates(n=count, start=start, end=start + timedelta(days=10))
    return []


maybe_tags = st.none() | st.lists(st.sampled_from(TAGS), unique=True, max_size=3)
maybe_text = st.none() | st.sampled_from(["x", "y"])
maybe_hours = st.sampled_from([1, 6, 24]) | st.none() | st.just(0)  # 0: "no schedule"
maybe_queue = st.none() | st.sampled_from(QUEUE_NAMES)


class StoreMachine(RuleBasedStateMachine):
    """The store against the model; ``deployments`` maps (flow, name) to the model row."""

    def __init__(self) -> None:
        super().__init__()
        RUN_COUNTS["examples"] += 1
        self.store = dk.Store()
        self.flow_ids = [flows.create_flow(self.store, dk.Flow(name=f"flow-{i}")).id for i in range(2)]
        self.deployments: dict[tuple[int, str], ModelDeployment] = {}
        self.runs: list[ModelRun] = []
        self.queues: dict[str, list[str]] = {}

    @initialize()
    def make_queues(self) -> None:
        for name, tags in QUEUE_FILTERS.items():
            work_queues.create_work_queue(self.store, dk.WorkQueue(name=name, filter={"tags": tags}))
        self.queues = {"default": [], **QUEUE_FILTERS}
        self.create_deployment(0, "a", ["prod"], None, 1, "etl")

    def teardown(self) -> None:
        self.store.close()

    # --- helpers ------------------------------------------------------------------------

    def _by_id(self, dep_id: UUID) -> ModelDeployment | None:
        return next((d for d in self.deployments.values() if d.id == dep_id), None)

    def _drop_runs(self, dep_id: UUID, *, auto_only: bool) -> None:
        self.runs = [
            r
            for r in self.runs
            if not (r.deployment == dep_id and r.state == "SCHEDULED" and (r.auto or not auto_only))
        ]

    @staticmethod
    def _fields(
        tags: list[str] | None, description: str | None, hours: int | None, queue: str | None
    ) -> dict[str, Any]:
        """The deployment fields a rule drew (``None``: not given; ``hours=0``: no schedule)."""
        given: dict[str, Any] = {}
        if tags is not None:
            given["tags"] = tags
        if description is not None:
            given["description"] = description
        if hours is not None:
            given["schedule"] = _schedule(hours) if hours else None
        if queue is not None:
            given["work_queue_name"] = queue
        return given

    # --- writes -------------------------------------------------------------------------

    @rule(
        flow=st.integers(0, 1),
        name=st.sampled_from(NAMES),
        tags=maybe_tags,
        description=maybe_text,
        hours=maybe_hours,
        queue=maybe_queue,
    )
    def create_deployment(self, flow, name, tags, description, hours, queue) -> None:
        RUN_COUNTS["steps"] += 1
        given = self._fields(tags, description, hours, queue)
        stored = D.create_deployment(
            self.store, dk.Deployment(name=name, flow_id=self.flow_ids[flow], **given)
        )
        existing = self.deployments.get((flow, name))
        if existing is None:
            existing = self.deployments[flow, name] = ModelDeployment(stored.id, flow, name)
        else:
            assert stored.id == existing.id, "an upsert must keep the id"
            self._drop_runs(existing.id, auto_only=True)
        self._apply(existing, tags, description, hours, queue)

    def _apply(
        self,
        dep: ModelDeployment,
        tags: list[str] | None,
        description: str | None,
        hours: int | None,
        queue: str | None,
    ) -> None:
        if tags is not None:
            dep.tags = tags
        if description is not None:
            dep.description = description
        if hours is not None:
            dep.hours = hours or None
            dep.extreme = None
        if queue is not None:
            dep.queue = queue
            self.queues.setdefault(queue, [])

    @precondition(lambda self: self.deployments)
    @rule(
        data=st.data(),
        tags=maybe_tags,
        description=maybe_text,
        hours=maybe_hours,
        queue=maybe_queue,
        active=st.none() | st.booleans(),
    )
    def update_deployment(self, data, tags, description, hours, queue, active) -> None:
        RUN_COUNTS["steps"] += 1
        dep = data.draw(st.sampled_from(sorted(self.deployments.values(), key=lambda d: str(d.id))))
        given = self._fields(tags, description, hours, queue)
        if active is not None:
            given["is_schedule_active"] = active
        assert D.update_deployment(self.store, dep.id, dk.DeploymentUpdate(**given)) is True
        self._drop_runs(dep.id, auto_only=True)
        self._apply(dep, tags, description, hours, queue)
        if active is not None:
            dep.active = active

    @rule(data=st.data(), missing=st.booleans())
    def delete_deployment(self, data, missing) -> None:
        RUN_COUNTS["steps"] += 1
        if missing or not self.deployments:
            assert D.update_deployment(self.store, uuid4(), dk.DeploymentUpdate(tags=["x"])) is False
            assert D.delete_deployment(self.store, uuid4()) is False
            return
        key = data.draw(st.sampled_from(sorted(self.deployments)))
        dep = self.deployments.pop(key)
        assert D.delete_deployment(self.store, dep.id) is True
        self._drop_runs(dep.id, auto_only=False)

    @rule(
        data=st.data(),
        flow=st.integers(0, 1),
        state=st.sampled_from(STATES),
        auto=st.booleans(),
        key=st.none() | st.sampled_from(["k1", "k2"]),
        of_deployment=st.booleans(),
    )
    def create_flow_run(self, data, flow, state, auto, key, of_deployment) -> None:
        RUN_COUNTS["steps"] += 1
        dep = None
        if of_deployment and self.deployments:
            dep = data.draw(st.sampled_from(sorted(self.deployments.values(), key=lambda d: str(d.id))))
            flow = dep.flow
        flow_runs.create_flow_run(
            self.store,
            dk.FlowRun(
                flow_id=self.flow_ids[flow],
                deployment_id=dep.id if dep else None,
                state_type=state,
                auto_scheduled=auto,
                idempotency_key=key,
            ),
        )
        model_key = None if key is None else ("manual", flow, key)
        if model_key is None or all(r.key != model_key for r in self.runs):
            self.runs.append(ModelRun(flow, dep.id if dep else None, state, auto, model_key))

    @precondition(lambda self: self.deployments)
    @rule(data=st.data(), day=st.integers(0, 3), max_runs=st.sampled_from([3, 1, 4, 0]))
    def schedule_runs(self, data, day, max_runs) -> None:
        RUN_COUNTS["steps"] += 1
        dep = data.draw(st.sampled_from(sorted(self.deployments.values(), key=lambda d: str(d.id))))
        start = ANCHOR + timedelta(days=day, minutes=30)
        inserted = D.schedule_runs(self.store, dep.id, **_window(start, max_runs))
        self._expect_runs([dep], start, max_runs, len(inserted))

    def _expect_runs(self, deps: list[ModelDeployment], start: datetime, count: int, inserted: int) -> None:
        """Model the runs scheduling ``deps`` from ``start`` creates; check their number."""
        expected = []
        for dep in deps:
            for date in _dates(dep, start, count):
                key = ("scheduled", dep.id, date)
                if all(r.key != key for r in self.runs):
                    expected.append((dep, key))
        assert inserted == len(expected)
        for dep, key in expected:
            self.runs.append(ModelRun(dep.flow, dep.id, "SCHEDULED", True, key))

    @precondition(lambda self: self.deployments)
    @rule(data=st.data(), name=st.sampled_from(sorted(EXTREME_SCHEDULES) + sorted(REFUSED_SCHEDULES)))
    def extreme_schedule(self, data, name) -> None:
        """Give a deployment a schedule at the limits: stored if valid, refused (nothing
        changes) if hostile."""
        RUN_COUNTS["steps"] += 1
        dep = data.draw(st.sampled_from(sorted(self.deployments.values(), key=lambda d: str(d.id))))
        if name in REFUSED_SCHEDULES:
            with pytest.raises(pydantic.ValidationError, match="schedule"):
                D.update_deployment(self.store, dep.id, dk.DeploymentUpdate(schedule=REFUSED_SCHEDULES[name]))
            return
        update = dk.DeploymentUpdate(schedule=EXTREME_SCHEDULES[name])
        assert D.update_deployment(self.store, dep.id, update) is True
        self._drop_runs(dep.id, auto_only=True)
        dep.hours, dep.extreme = None, name

    @rule(day=st.sampled_from([0, 3, 58, 59]), max_runs=st.sampled_from([3, 1, 0]))
    def schedule_all(self, day, max_runs) -> None:
        """Fleet scheduling: every active scheduled deployment gets its runs, none skipped."""
        RUN_COUNTS["steps"] += 1
        start = ANCHOR + timedelta(days=day, minutes=30)  # days 58-59: around the leap day
        with warnings.catch_warnings():
            warnings.simplefilter("error", dk.ScheduleSkippedWarning)
            inserted = D.schedule_all(self.store, **_window(start, max_runs))
        deps = sorted(self.deployments.values(), key=lambda d: str(d.id))
        self._expect_runs(deps, start, max_runs, inserted.height)

    @rule(day=st.sampled_from([0, 58]))
    def preview_runs(self, day) -> None:
        """A preview lists each active schedule's dates, whatever runs exist already."""
        RUN_COUNTS["steps"] += 1
        start = ANCHOR + timedelta(days=day, minutes=30)
        with warnings.catch_warnings():
            warnings.simplefilter("error", dk.ScheduleSkippedWarning)
            preview = D.preview_runs(self.store, start, start + timedelta(days=10), max_runs=3)
        expected = sorted((str(d.id), t) for d in self.deployments.values() for t in _dates(d, start, 3))
        assert sorted(preview.select("deployment_id", "scheduled_time").rows()) == expected

    # --- reads ----------------------------------------------------------------------------

    @rule(
        data=st.data(),
        tag=st.sampled_from(TAGS),
        flow=st.integers(0, 1),
        state=st.sampled_from(STATES),
    )
    def reads(self, data, tag, flow, state) -> None:
        RUN_COUNTS["steps"] += 1
        deps = sorted(self.deployments.values(), key=lambda d: str(d.id))
        if deps:
            dep = data.draw(st.sampled_from(deps))
            got = D.check_work_queues_for_deployment(self.store, dep.id)["name"].to_list()
            expected = [q for q, needs in self.queues.items() if set(needs) <= set(dep.tags)]
            assert sorted(got) == sorted(expected)
        tagged = D.read_deployments(self.store, deployment_filter={"tags": {"all_": [tag]}})
        assert sorted(tagged["name"]) == sorted(d.name for d in deps if tag in d.tags)
        of_flow = {"name": {"any_": [f"flow-{flow}"]}}
        assert D.count_deployments(self.store, flow_filter=of_flow) == sum(d.flow == flow for d in deps)
        with_runs = {r.deployment for r in self.runs if r.state == state}
        assert D.count_deployments(self.store, flow_run_filter={"state": {"type": {"any_": [state]}}}) == sum(
            d.id in with_runs for d in deps
        )

    @invariant()
    def store_matches_model(self) -> None:
        frame = D.read_deployments(self.store)
        got = {
            (UUID(r["id"]), r["name"]): (
                r["tags"],
                r["description"],
                r["schedule_type"],
                r["is_schedule_active"],
                r["work_queue_name"],
            )
            for r in frame.iter_rows(named=True)
        }
        expected = {
            (d.id, d.name): (
                d.tags,
                d.description,
                _kind(d),
                d.active,
                d.queue,
            )
            for d in self.deployments.values()
        }
        assert got == expected
        assert D.count_deployments(self.store) == len(self.deployments)
        runs = self.store.sql(
            "SELECT count(*) AS n, count(*) FILTER (state_type = 'SCHEDULED' AND auto_scheduled) AS auto "
            "FROM flow_run"
        ).row(0)
        assert runs == (
            len(self.runs),
            sum(r.state == "SCHEDULED" and r.auto for r in self.runs),
        )
        assert self.store.check_integrity().is_empty()


StoreMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
TestStoreMachine = StoreMachine.TestCase


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    """Print what the machine explored once the module is done (``pytest -s`` shows it)."""
    yield
    print(f"\nstateful fuzzing: {RUN_COUNTS['examples']} examples, {RUN_COUNTS['steps']} steps")
