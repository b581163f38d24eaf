"""fetch_prefect against a real HTTP server on 127.0.0.1 serving the recorded bodies."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_unchanged, snapshot
from hostile_http import Handler, Request, Server, prefect, serve

from deploykit.io import FetchError, fetch_prefect, import_prefect_api

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
KEY = "pnu_secret"


@dataclass
class FakePrefect:
    """Prefect's ``/filter`` endpoints behind the API key ``KEY``, plus scripted failures."""

    url: str
    server: Server
    failures: list[int] = field(default_factory=list)
    """Status codes to answer (with ``Retry-After: 0``) before serving, one per request."""

    @property
    def requests(self) -> list[tuple[str, Any]]:
        """``(path, body)`` of every request the server received, in order."""
        return [(r.path, r.body) for r in self.server.requests]


@pytest.fixture
def server() -> Iterator[tuple[str, FakePrefect]]:
    """A :class:`FakePrefect` on 127.0.0.1 serving the recorded bodies: ``(API URL, fake)``."""
    fake: FakePrefect

    def script(handler: Handler, request: Request) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if headers.get("authorization") != f"Bearer {KEY}":
            return handler.reply(401, {"detail": "Unauthorized"})
        if fake.failures:
            return handler.reply(fake.failures.pop(0), {"detail": "try again"}, headers={"Retry-After": "0"})
        return prefect(handler, request)

    with serve(script) as state:
        fake = FakePrefect(state.url, state)
        yield fake.url, fake


def test_fetch_equals_file_import_with_retries(store, server):
    url, handler = server
    handler.failures[:] = [429, 500]
    report = fetch_prefect(store, url, KEY, page_size=25, retries=3, backoff=0.01, progress=False)
    runs = len(json.loads((FIXTURES / "api-flow_runs.json").read_text()))
    assert report.inserted["flow_run"] == runs
    # the two failures were retried, then every page of 25 was asked for
    run_pages = [b for p, b in handler.requests if p == "/api/flow_runs/filter"]
    assert [b["offset"] for b in run_pages[-(runs // 25 + 1) :]] == list(range(0, runs + 1, 25))
    assert {b["limit"] for _, b in handler.requests} == {25}
    assert any("/work_pools/k8s-pool/queues/filter" in p for p, _ in handler.requests)
    with type(store)() as other:
        import_prefect_api(other, FIXTURES)
        for t in ("deployment", "flow_run", "work_queue", "task_run"):
            assert store.sql(f"FROM {t} ORDER BY id").equals(other.sql(f"FROM {t} ORDER BY id"))


def test_persistent_server_error_is_reported(store, flow, server):
    url, handler = server
    handler.failures[:] = [503] * 10
    before = snapshot(store)
    with pytest.raises(FetchError, match=r"/api/flows/filter: HTTP 503 after 3 attempt"):
        fetch_prefect(store, url, KEY, retries=2, backoff=0.01, progress=False)
    assert_unchanged(before, store)


def test_wrong_key(store, flow, server):
    url, _ = server
    before = snapshot(store)
    with pytest.raises(FetchError) as info:
        fetch_prefect(store, url, "wrong", retries=1, backoff=0.01, progress=False)
    assert url in str(info.value) and "401" in str(info.value) and "API key" in str(info.value)
    assert_unchanged(before, store)


def test_unreachable(store, flow):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/api"
    before = snapshot(store)
    with pytest.raises(FetchError, match=rf"127.0.0.1:{port}/api/flows/filter: cannot reach"):
        fetch_prefect(store, url, timeout=0.5, retries=1, backoff=0.01, progress=False)
    assert_unchanged(before, store)
