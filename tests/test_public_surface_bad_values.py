"""Issue 15: no public function lets a raw library exception escape for bad input.

The walk is generated: every store-first function of ``deploykit.models.*`` and
``deploykit.io`` (and ``deploykit.history`` when present), the schedule models'
``get_dates`` and ``Store(...)`` are introspected with :func:`inspect.signature`; each
parameter is classified by name and annotation into a kind (:func:`kind_of`), and is
given every bad value of that kind's corpus (:data:`CORPORA`) while the other
parameters get a good value (:func:`good_value`). A call may succeed (a bad value can
legitimately mean "nothing found"); if it raises, the exception must be a
``DeploykitError``, a ``pydantic.ValidationError``, or a plain ``ValueError`` /
``TypeError`` with a message -- never a raw DuckDB, Polars, pyarrow, httpx, sqlite3 or
json error, a pyo3 ``PanicException`` (a ``BaseException``), nor ``KeyError``,
``AttributeError``, ``AssertionError``, ``RecursionError``, ``OverflowError`` or
``UnicodeError``. A new public function or parameter is covered without editing this
file; a parameter of an unknown kind gets the ``other`` corpus.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import polars as pl
import pydantic
import pytest

import deploykit as dk

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
CALL_SECONDS = 30
"""A call that takes longer counts as a hang (an alarm interrupts it)."""


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


DEEP = _nested(100_000)

CORPORA: dict[str, list[Any]] = {
    "id": ["", "not-a-uuid", "{" + str(uuid4()) + "}", "{not-a-uuid}", 2**70, -1, None, [str(uuid4())]],
    "int": [-1, 2**63, 2**64, -(2**63) - 1, float("nan"), float("inf"), "3", 1.5, True],
    "float": [-1.0, float("nan"), float("inf"), "3", 2**1100, -(2**70)],
    "datetime": [
        datetime(2024, 1, 1),  # naive
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        "2024-01-01T00:00:00Z",
        "tomorrow",
        3,
    ],
    "timedelta": [timedelta(days=-1), timedelta.max, timedelta.min, "1h", float("nan"), 2**70],
    "filter": [
        {"nope": 1},
        {"name": 3},
        {"name": {"any_": 3}},
        {"id": {"any_": ["not-a-uuid"]}},
        {"tags": {"all_": [2**70]}},
        "name",
        3,
        [],
        DEEP,
    ],
    "name": ["", "a/b", "a%b", "a&b", "a>b", "a<b", "\x00", 3, None, "x" * 100_000],
    "sort": ["NOPE", "NAME_ASC; DROP TABLE flow", 3, {}],
    "bool": ["yes", 2, [], float("nan")],
    "url": ["http://[::1", "", "ftp://127.0.0.1:1", "not a url", "http://127.0.0.1:0", 3, None],
    "model": [
        None,
        "x",
        3,
        [],
        {},
        {"name": 3},
        {"name": "a/b"},
        {"name": "n", "id": "not-a-uuid"},
        {"name": "n", "flow_id": 2**70},
        {"name": "n", "flow_id": str(uuid4()), "state": "RUNNING"},
        {"name": "n", "retries": -1},
        {"name": "n", "created": float("inf")},
        {"name": "n", "created": "0001-01-01T00:00:00+14:00", "updated": "9999-12-31T23:00:00-14:00"},
        {"name": "n", "tags": DEEP},
        DEEP,
    ],
    "models": [None, "x", [None], [{"name": 3}], [3], pl.DataFrame({"x": [1]}), pl.DataFrame()],
    "path": [],  # filled by the ``paths`` fixture: files on disk
    "other": [None, "x", -1, object()],
}
"""Bad values per parameter kind."""

GOOD_BY_NAME: dict[str, Any] = {
    "api_url": "http://127.0.0.1:1",  # loopback, nothing listens: refused at once
    "api_key": None,
    "retries": 0,
    "timeout": 1.0,
    "deadline": 5.0,
    "backoff": 0.0,
    "max_wait": 0.0,
    "progress": False,
    "start_time": datetime(2024, 1, 1, tzinfo=UTC),
    "end_time": datetime(2024, 1, 2, tzinfo=UTC),
    "start": datetime(2024, 1, 1, tzinfo=UTC),
    "end": datetime(2024, 1, 2, tzinfo=UTC),
    "read_only": False,
}
"""Good values of parameters whose kind's default would not do."""

GOOD_BY_KIND: dict[str, Any] = {
    "int": 3,
    "float": 1.0,
    "datetime": datetime(2024, 1, 1, tzinfo=UTC),
    "timedelta": timedelta(hours=1),
    "filter": None,
    "name": "x",
    "sort": None,
    "bool": False,
    "url": "http://127.0.0.1:1",
    "models": [],
    "other": None,
}

FORBIDDEN = (KeyError, AttributeError, AssertionError, RecursionError, OverflowError, UnicodeError)
RAW_MODULES = {
    "duckdb",
    "_duckdb",
    "polars",
    "pyarrow",
    "httpx",
    "httpcore",
    "sqlite3",
    "json",
    "pyo3_runtime",
}


def kind_of(name: str, annotation: str) -> str:
    """The corpus a parameter gets, from its name and (string) annotation."""
    if name.endswith("filter"):
        return "filter"
    if name == "sort":
        return "sort"
    if name.endswith("url"):
        return "url"
    if name in {"path", "folder"} or "PathLike" in annotation:
        return "path"
    if name == "id" or name.endswith("_id") or annotation.startswith("UUID"):
        return "id"
    if "datetime" in annotation:
        return "datetime"
    if "timedelta" in annotation:
        return "timedelta"
    if annotation.startswith("bool"):
        return "bool"
    if annotation.startswith("int"):
        return "int"
    if annotation.startswith("float"):
        return "float"
    if "DataFrame" in annotation or "Sequence[" in annotation:
        return "models"
    if any(annotation.startswith(m) for m in dk.schemas.__all__):
        return "model"
    if name == "name" or name.endswith("_name"):
        return "name"
    return "other"


def allowed(exc: BaseException) -> bool:
    """A bad value's error is one of deploykit's, pydantic's, or a plain ValueError/TypeError."""
    if isinstance(exc, dk.DeploykitError | pydantic.ValidationError):
        return True
    if isinstance(exc, FORBIDDEN) or not isinstance(exc, ValueError | TypeError):
        return False
    top = type(exc).__module__.split(".")[0]
    return top in {"builtins", "deploykit"} and bool(str(exc).strip()) and top not in RAW_MODULES


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


def show(value: Any) -> str:
    """A short repr (one of a 100,000-deep dict would itself recurse too deeply)."""
    try:
        return repr(value)[:80]
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"


def check_call(call: Callable[[], object], what: str) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CALL_SECONDS)
    try:
        call()
    except _Hang:
        pytest.fail(f"{what}: no answer after {CALL_SECONDS} s")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        if not allowed(exc):
            pytest.fail(f"{what}: raw {type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:300]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the surface -----------------------------------------------------------------------


def _modules() -> list[ModuleType]:
    names = [f"deploykit.models.{m}" for m in dk.models.__all__] + ["deploykit.io", "deploykit.history"]
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError:
            continue
    return found


def store_first_functions() -> list[tuple[str, Callable[..., Any]]]:
    """Every public store-first function (``session`` / ``store`` first): the operations."""
    seen: dict[str, Callable[..., Any]] = {}
    for module in _modules():
        for name in getattr(module, "__all__", None) or dir(module):
            func = getattr(module, name)
            if name.startswith("_") or not inspect.isfunction(func):
                continue
            params = list(inspect.signature(func).parameters)
            if params and params[0] in {"session", "store"}:
                seen.setdefault(f"{func.__module__.split('.')[-1]}.{name}", func)
    return sorted(seen.items())


FUNCTIONS = store_first_functions()


def _cases() -> Iterator[Any]:
    for label, func in FUNCTIONS:
        for param in list(inspect.signature(func).parameters.values())[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            kind = kind_of(param.name, str(param.annotation))
            count = len(CORPORA[kind]) if kind != "path" else len(PATH_CASES)
            for i in range(count):
                yield pytest.param(func, param.name, kind, i, id=f"{label}-{param.name}-{kind}{i}")


PATH_CASES = ["dir", "fifo", "missing", "truncated_parquet", "utf16_json", "surrogate_json", "plain_text"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One store with a flow, deployment, pool and queue, and files good and bad."""
    root = tmp_path_factory.mktemp("surface")
    store = dk.Store()
    flow = dk.models.flows.create_flow(store, dk.Flow(name="f"))
    schedule = {"interval": 3600, "anchor_date": "2024-01-01T00:00:00+00:00"}
    dk.models.deployments.create_deployment(
        store, dk.Deployment(name="d", flow_id=flow.id, schedule=schedule)
    )
    export = root / "export"
    dk.io.export_parquet(store, export)
    api = root / "api"
    shutil.copytree(FIXTURES, api, ignore=shutil.ignore_patterns("*.db", "*.md", "expected-*"))

    bad = root / "bad"
    (bad / "dir").mkdir(parents=True)
    os.mkfifo(bad / "fifo")
    truncated = bad / "truncated_parquet"
    shutil.copytree(export, truncated)
    data = (truncated / "flow.parquet").read_bytes()
    (truncated / "flow.parquet").write_bytes(data[: len(data) // 2])
    body = (FIXTURES / "api-flows.json").read_text()
    (bad / "utf16_json").mkdir()
    (bad / "utf16_json" / "api-flows.json").write_text(body, encoding="utf-16")
    (bad / "utf16_json" / "manifest.json").write_text(json.dumps({"format": "x"}), encoding="utf-16")
    (bad / "surrogate_json").mkdir()
    (bad / "surrogate_json" / "api-flows.json").write_text('[{"id": "x", "name": "\\ud800"}]')
    (bad / "surrogate_json" / "manifest.json").write_text('{"format": "\\udc00"}')
    (bad / "plain_text").write_text("not json, not sqlite, not parquet\n")
    paths = {case: bad / case for case in PATH_CASES}
    paths["missing"] = bad / "missing" / "nothing.json"
    yield {
        "store": store,
        "flow": flow,
        "paths": paths,
        "good_paths": {
            "import_parquet": export,
            "import_prefect_api": api,
            "import_prefect_db": FIXTURES / "prefect.db",
        },
        "root": root,
    }
    store.close()


def good_model(annotation: str, world: dict[str, Any]) -> Any:
    flow_id = world["flow"].id
    factories: dict[str, Callable[[], Any]] = {
        "Flow": lambda: dk.Flow(name=f"f-{uuid4().hex[:8]}"),
        "Deployment": lambda: dk.Deployment(name=f"d-{uuid4().hex[:8]}", flow_id=flow_id),
        "FlowRun": lambda: dk.FlowRun(flow_id=flow_id),
        "WorkPool": lambda: dk.WorkPool(name=f"p-{uuid4().hex[:8]}"),
        "WorkQueue": lambda: dk.WorkQueue(name=f"q-{uuid4().hex[:8]}"),
    }
    head = annotation.split(" ")[0].split("[")[0]
    return factories[head]() if head in factories else {}


def good_value(func: Callable[..., Any], param: inspect.Parameter, world: dict[str, Any]) -> Any:
    kind = kind_of(param.name, str(param.annotation))
    if param.name in GOOD_BY_NAME:
        return GOOD_BY_NAME[param.name]
    if kind == "path":
        return world["good_paths"].get(func.__name__) or world["root"] / f"out-{uuid4().hex[:8]}"
    if kind == "id":
        return str(uuid4())
    if kind == "model":
        return good_model(str(param.annotation), world)
    return GOOD_BY_KIND[kind]


def bad_value(kind: str, index: int, world: dict[str, Any]) -> Any:
    if kind == "path":
        return world["paths"][PATH_CASES[index]]
    return CORPORA[kind][index]


def _arguments(func: Callable[..., Any], bad_name: str, bad: Any, world: dict[str, Any]) -> tuple[list, dict]:
    args: list[Any] = [world["store"]]
    kwargs: dict[str, Any] = {}
    for param in list(inspect.signature(func).parameters.values())[1:]:
        if param.name == bad_name:
            value = bad
        elif param.default is param.empty or param.name in GOOD_BY_NAME:
            value = good_value(func, param, world)
        else:
            continue
        if param.kind == param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[param.name] = value
    return args, kwargs


@pytest.mark.parametrize(("func", "param", "kind", "index"), list(_cases()))
def test_bad_value_of_a_store_first_function(world, func, param, kind, index):
    bad = bad_value(kind, index, world)
    args, kwargs = _arguments(func, param, bad, world)
    check_call(lambda: func(*args, **kwargs), f"{func.__module__}.{func.__name__}({param}={show(bad)})")


def test_the_walk_covers_the_operations():
    names = {label.split(".")[-1] for label, _ in FUNCTIONS}
    assert {"read_deployments", "create_flow", "import_parquet", "fetch_prefect", "schedule_all"} <= names


# --- schedules and Store ----------------------------------------------------------------

SCHEDULES = {
    "interval": {"interval": 3600, "anchor_date": "2024-01-01T00:00:00+00:00"},
    "cron": {"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    "rrule": {"rrule": "DTSTART:20240101T090000\nFREQ=DAILY;BYHOUR=9"},
}


def _get_dates_cases() -> Iterator[Any]:
    from deploykit.schemas.schedules import BaseSchedule

    for param in list(inspect.signature(BaseSchedule.get_dates).parameters.values())[1:]:
        kind = kind_of(param.name, str(param.annotation))
        for schedule in SCHEDULES:
            for i in range(len(CORPORA[kind])):
                yield pytest.param(schedule, param.name, kind, i, id=f"{schedule}-{param.name}-{kind}{i}")


@pytest.mark.parametrize(("schedule", "param", "kind", "index"), list(_get_dates_cases()))
def test_bad_value_of_get_dates(schedule, param, kind, index):
    model = dk.schemas.schedules.parse_schedule(SCHEDULES[schedule])
    bad = CORPORA[kind][index]
    check_call(lambda: model.get_dates(**{param: bad}), f"{schedule}.get_dates({param}={show(bad)})")


def _store_cases() -> Iterator[Any]:
    for param in inspect.signature(dk.Store).parameters.values():
        kind = kind_of(param.name, str(param.annotation))
        count = len(PATH_CASES) if kind == "path" else len(CORPORA[kind])
        for i in range(count):
            yield pytest.param(param.name, kind, i, id=f"Store-{param.name}-{kind}{i}")


@pytest.mark.parametrize(("param", "kind", "index"), list(_store_cases()))
def test_bad_value_of_store(world, param, kind, index):
    bad = bad_value(kind, index, world)

    def call() -> None:
        store = dk.Store(**{param: bad})
        store.close()

    check_call(call, f"Store({param}={show(bad)})")
