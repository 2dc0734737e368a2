"""A real local HTTP server for the webhook tests: records every request, answers as told.

    with HttpSink() as sink:                      # 127.0.0.1, a free port, its own thread
        sink.reply = (200, {"errcode": 0, "errmsg": "ok"})
        notifier = WeComNotifier(sink.url("/cgi-bin/webhook/send?key=k"))
        ...
        [request] = sink.requests                 # .method .path .query .headers .body .json()

`sink.hold()` makes the server keep the next requests waiting (without answering) until the sink is
released or closed, so a client's timeout is exercised without any sleep in the test.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class HttpSink:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.reply: tuple[int, Any] = (200, {"errcode": 0, "errmsg": "ok"})  # dict -> JSON; bytes as is
        self._release = threading.Event()
        self._release.set()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                sink.requests.append(Request("POST", parts.path, parse_qs(parts.query), parts.query,
                                             dict(self.headers.items()), body))
                sink._release.wait(timeout=30)
                status, payload = sink.reply
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test); nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
                pass  # keep test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path_and_query: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path_and_query}"

    def hold(self) -> None:
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
