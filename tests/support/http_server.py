"""A real local HTTP server for spider tests: serves fixed routes, records every request.

    from support.http_server import serve

    with serve({"/feed.xml": (200, {"Content-Type": "application/rss+xml"}, body)}) as (base, log):
        ...crawl with -a base_url=base...
        assert log[0].path == "/feed.xml"

`routes` maps a path, or a path with its query ("/api?page=1"), to (status, headers, body bytes);
a path with its query wins over the bare path. Or `routes` is a callable taking a `Seen` request and
returning that tuple (or None for 404). Unknown paths answer 404, `/robots.txt` included unless
routed. The log holds `Seen(method, path, query, headers, target)` for every request, robots.txt
too, in arrival order. The server listens on 127.0.0.1 on a free port, in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    target: str  # path and query as requested


Routes = dict[str, Answer] | Callable[[Seen], Answer | None]


def _answer(routes: Routes, seen: Seen) -> Answer | None:
    if callable(routes):
        return routes(seen)
    return routes.get(seen.target) or routes.get(seen.path)


@contextmanager
def serve(routes: Routes) -> Iterator[tuple[str, list[Seen]]]:
    log: list[Seen] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            seen = Seen("GET", parts.path, parse_qs(parts.query), dict(self.headers.items()), self.path)
            with lock:
                log.append(seen)
            status, headers, body = _answer(routes, seen) or (404, {"Content-Type": "text/plain"},
                                                              b"not found")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # tests read the request log instead of stderr

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
