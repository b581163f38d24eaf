"""fetch_prefect against a real HTTP server on 127.0.0.1 serving the recorded bodies."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import assert_unchanged, snapshot

from deploykit.io import FetchError, fetch_prefect, import_prefect_api

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"
KEY = "pnu_secret"


class FakePrefect(BaseHTTPRequestHandler):
    """Prefect's ``/filter`` endpoints with offset/limit, plus scripted failures."""

    failures: list[int]  # status codes to answer before serving, one per request
    requests: list[tuple[str, dict]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.path, body))
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(401, {"detail": "Unauthorized"})
        if self.failures:
            return self._send(self.failures.pop(0), {"detail": "try again"}, {"Retry-After": "0"})
        parts = self.path.strip("/").split("/")  # api/<kind>/filter or api/work_pools/<p>/queues/filter
        name = f"api-work_pool_queues-{parts[2]}.json" if parts[3:4] == ["queues"] else f"api-{parts[1]}.json"
        rows = json.loads((FIXTURES / name).read_text())
        self._send(200, rows[body["offset"] : body["offset"] + body["limit"]])

    def _send(self, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[FakePrefect]]]:
    handler = type("Handler", (FakePrefect,), {"failures": [], "requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api", handler
    httpd.shutdown()
    httpd.server_close()


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
