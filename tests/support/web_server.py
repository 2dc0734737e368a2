"""A real console under test: `create_app` over a real SQLite store, served by a real uvicorn on a
free loopback port in a thread, with users of each role; plus a small HTTP client (urllib, no
redirects followed) that keeps cookies like a browser.

    with console(tmp_path, records=[...]) as web:     # web.url, web.store, web.settings
        client = web.client(); client.login("operator")
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from support.smtp import free_port

PASSWORDS = {"viewer": "viewer-pass-1", "operator": "operator-pass-1", "admin": "admin-pass-1"}


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Client:
    url: str
    jar: CookieJar = field(default_factory=CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, data: Mapping[str, str] | None = None, *,
                json_body: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
        body, sent = None, dict(headers or {})
        if json_body is not None:
            body, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.url + urllib.parse.quote(path, safe="/?&=%:+,;@"), data=body,
                                     method=method, headers=sent)
        try:
            with self.opener.open(req, timeout=20) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: Mapping[str, str] | None = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, data, **kwargs)

    def csrf(self, path: str = "/") -> str:
        found = re.search(r'name="csrf_token" value="([^"]*)"', self.get(path).text)
        assert found, f"no csrf_token on {path}"
        return found.group(1)

    def login(self, name: str, password: str | None = None) -> Reply:
        token = self.csrf("/login")
        return self.post("/login", {"username": name, "password": password or PASSWORDS[name],
                                    "csrf_token": token, "next": "/"})


@dataclass
class Console:
    url: str
    store: Any
    settings: Any

    def client(self) -> Client:
        return Client(self.url)


@contextmanager
def console(tmp_path: Path, records: Sequence[Any] = (), *, env: Mapping[str, str] | None = None,
            ingest: bool = True) -> Iterator[Console]:
    """The console on a fresh store in `tmp_path` holding `records`, with users viewer, operator and
    admin (passwords in PASSWORDS)."""
    import uvicorn

    from core.settings import load_settings
    from indexer import SqliteStore
    from web.app import create_app
    from web.auth import add_user

    settings = load_settings(env={"VOC_STORE__PATH": str(tmp_path / "voc.db"),
                                  "VOC_APP__VAR_DIR": str(tmp_path / "var"),
                                  "VOC_NOTIFY__OUTBOX": str(tmp_path / "outbox"),
                                  "VOC_KIBANA__URL": "", **(env or {})})
    store = SqliteStore(tmp_path / "voc.db")
    if records:
        result = store.upsert(list(records))
        assert result.stored == len(records), result.failed
    for role, password in PASSWORDS.items():
        add_user(store, role, role, password, by="test")
    feed = None
    if ingest:
        from voc.cli.web import ingest_for

        feed = ingest_for(settings, store)
    app = create_app(settings, store, ingest=feed)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Console(f"http://127.0.0.1:{port}", store, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
