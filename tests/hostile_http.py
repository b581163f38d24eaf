"""A scriptable, misbehaving Prefect API on 127.0.0.1 for the fetch tests.

``serve(script)`` starts a real HTTP/1.1 server on an ephemeral loopback port in a thread;
every POST is recorded and handed to ``script(handler, request)``, which answers with the
handler's helpers: ``reply`` (a whole answer), ``drip`` (a body byte by byte), ``stream``
(a chunked body of any length). ``prefect`` answers like a well-behaved Prefect server
from the recorded 2.10 bodies. The server counts the body bytes it managed to write, so a
test can tell that a client stopped reading.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "prefect-2.10"


@dataclass
class Request:
    """One POST the server received."""

    number: int  # 0 for the first request the server saw
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Server:
    """A running hostile server: its API URL, the requests it saw, the body bytes it wrote."""

    base: str  # http://127.0.0.1:<port>
    requests: list[Request] = field(default_factory=list)
    sent: int = 0

    @property
    def url(self) -> str:
        return f"{self.base}/api"

    def paths(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


class Handler(BaseHTTPRequestHandler):
    """Records each POST and lets the server's script answer it."""

    protocol_version = "HTTP/1.1"
    script: Callable[[Handler, Request], None]
    state: Server
    lock: threading.Lock

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            request = Request(
                len(self.state.requests), self.path, json.loads(data or b"null"), dict(self.headers)
            )
            self.state.requests.append(request)
        try:
            self.script(self, request)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up: what a well-bounded client does

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        with self.lock:
            self.state.sent += len(data)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def reply(
        self, status: int, payload: Any = None, *, raw: bytes | None = None, headers: dict | None = None
    ) -> None:
        """A whole answer: ``payload`` as JSON, or ``raw`` bytes as they are."""
        data = raw if raw is not None else json.dumps(payload).encode()
        self._head(
            status, {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
        )
        self._write(data)

    def drip(self, data: bytes, every: float) -> None:
        """A 200 whose body (its length declared) arrives one byte every ``every`` seconds."""
        self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
        for i in range(len(data)):
            time.sleep(every)
            self._write(data[i : i + 1])

    def stream(self, status: int, chunks: Iterable[bytes], *, headers: dict | None = None) -> None:
        """An answer whose body is sent chunked (no length), as long as ``chunks`` lasts."""
        self._head(
            status, {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **(headers or {})}
        )
        for chunk in chunks:
            self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self._write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


def fixture_rows(path: str) -> list[dict[str, Any]]:
    """The recorded bodies Prefect 2.10 serves at ``/api/<kind>/filter`` or a pool's queues."""
    parts = path.strip("/").split("/")  # api/<kind>/filter or api/work_pools/<pool>/queues/filter
    name = f"api-work_pool_queues-{parts[2]}.json" if parts[3:4] == ["queues"] else f"api-{parts[1]}.json"
    return json.loads((FIXTURES / name).read_text())


def prefect(handler: Handler, request: Request) -> None:
    """Answer as a well-behaved Prefect server: the recorded bodies, by offset and limit."""
    offset, limit = request.body["offset"], request.body["limit"]
    handler.reply(200, fixture_rows(request.path)[offset : offset + limit])


@contextmanager
def serve(script: Callable[[Handler, Request], None]) -> Iterator[Server]:
    """A hostile server on 127.0.0.1 answering with ``script``, for the length of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Server(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = type(
        "ScriptedHandler",
        (Handler,),
        {"script": staticmethod(script), "state": state, "lock": threading.Lock()},
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
