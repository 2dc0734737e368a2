"""The frame every console request goes through (the app itself is `web.app.create_app`).

Starlette, served by uvicorn (`voc web`). Every page is rendered on the server from the Jinja2
templates in `web/templates/` (autoescape on); every page has a JSON twin under `/api/`. The
little JavaScript there is (`web/static/app.js`: the ECharts charts, the job page's progress) is a
file of our own beside the vendored ECharts; no page carries inline script or style, and the
Content-Security-Policy says so (`default-src 'self'`).

Who is asking (`Console.who`): a `Authorization: Bearer` API token, else the `[web]
trusted_user_header` of an SSO proxy (off by default), else the session cookie (`voc_session`,
HttpOnly, SameSite=Lax, Secure under `[web] https`). Every endpoint states the role it needs and
checks it on the server (`endpoint(role, ...)`); an unauthenticated page request is redirected to
`/login`, an API request gets 401. Every state-changing request made with a session cookie must
carry that session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`), else 403; the
login form has its own (a cookie it must match). Failed logins are limited per user and per address
(`LoginLimiter`): 429 with Retry-After. Each state change is written to the audit log.

The pages and API endpoints themselves are in `web.pages`; this module is the frame they share:
`Ctx` (one request), `Console` (settings, store, templates), `endpoint` (auth, role, CSRF),
`SecurityHeaders`, `Denied`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.record import parse_time, zone_label
from core.settings import Settings
from indexer.store import FeedbackStore
from web import audit
from web.auth import LoginLimiter, Session, User, load_session, start_session, token_user

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "voc_session"
LOGIN_COOKIE = "voc_login"
MAX_UPLOAD = 20 * 1024 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
ROLE_NAMES = {"viewer": "只读", "operator": "操作员", "admin": "管理员"}
STATUS_NAMES = {"ok": "正常", "blocked": "被封禁", "layout_changed": "页面结构变化", "failed": "失败",
                "never": "本库无采集记录"}
JOB_STATES = {"queued": "排队中", "running": "采集中", "done": "完成", "failed": "失败"}
# ingest(records, source_label) -> a report dict {"stored", "new", "updated", "unchanged", "rejected", ...}
Ingest = Callable[[list[Any]], dict[str, Any]]


class Denied(Exception):
    """The request may not do this: `status` 401, 403 or 429, `message` for the person."""

    def __init__(self, status: int, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


@dataclass
class Ctx:
    """One request as an endpoint sees it."""

    request: Request
    console: Console
    user: User | None
    session: Session | None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    json: Any = None

    @property
    def store(self) -> FeedbackStore:
        return self.console.store

    @property
    def params(self) -> Mapping[str, str]:
        return self.request.query_params

    @property
    def address(self) -> str:
        return self.request.client.host if self.request.client else "-"

    def audit(self, action: str, target: str = "", detail: str = "") -> None:
        audit.record(self.store, self.user.name if self.user else "-", action, target, detail,
                     address=self.address)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(self.console.render(template, self, **values), status_code=status)


class Console:
    """The settings, the store and what every request shares."""

    def __init__(self, settings: Settings, store: FeedbackStore, ingest: Ingest | None,
                 branch_name: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.ingest = ingest
        self.branch_name = branch_name
        self.tz = settings.display_tz
        self.limiter = LoginLimiter(settings.web.login_attempts)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                      autoescape=True, undefined=jinja2.StrictUndefined,
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = self.when
        self.env.filters["pct"] = lambda v: f"{float(v or 0):.0%}"
        self.env.globals["zone"] = zone_label(self.tz)
        self.env.globals["role_names"] = ROLE_NAMES
        self.env.globals["status_names"] = STATUS_NAMES
        self.env.globals["job_states"] = JOB_STATES

    def when(self, value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """An ISO time (or datetime) in the display timezone."""
        if not value:
            return "-"
        moment = parse_time(value, naive_tz=None) if isinstance(value, str) else value
        return moment.astimezone(self.tz).strftime(fmt)

    def render(self, template: str, ctx: Ctx, **values: Any) -> str:
        return self.env.get_template(template).render(
            user=ctx.user, csrf=ctx.session.csrf if ctx.session else "", path=ctx.request.url.path,
            **values)

    def who(self, request: Request) -> tuple[User | None, Session | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = token_user(self.store, header[7:].strip())
            if user is None:
                raise Denied(401, "invalid or revoked API token")
            return user, None
        session = load_session(self.store, request.cookies.get(SESSION_COOKIE, ""))
        trusted = self.settings.web.trusted_user_header
        if trusted and request.headers.get(trusted):
            from web.auth import get_user

            user = get_user(self.store, request.headers[trusted].strip())
            if user is None:
                raise Denied(403, f"the SSO user {request.headers[trusted][:64]!r} has no console account")
            return user, session if session and session.user.name == user.name else None
        return (session.user, session) if session else (None, None)


def endpoint(role: str | None, fn: Callable[[Ctx], Response], *, api: bool = False,
             write: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint around `fn(ctx)` (run in the thread pool: store calls block): it reads
    the form or JSON body of a write, resolves the user, checks `role` and the CSRF token."""

    async def run(request: Request) -> Response:
        console: Console = request.app.state.console
        ctx = Ctx(request, console, None, None)
        try:
            if write:
                await _read_body(request, ctx)
            ctx.user, ctx.session = await run_in_threadpool(console.who, request)
            if role is not None:
                if ctx.user is None:
                    if api:
                        raise Denied(401, "log in first (session cookie or Authorization: Bearer token)")
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                if not ctx.user.can(role):
                    raise Denied(403, f"需要{ROLE_NAMES[role]}权限（{role}）")
            if write and request.headers.get("authorization", "").lower().startswith("bearer "):
                pass  # an API token is not a browser credential: no CSRF
            elif write and role is not None:
                sent = ctx.form.get("csrf_token") or request.headers.get("x-csrf-token", "")
                if ctx.session is None or not secrets.compare_digest(sent, ctx.session.csrf):
                    raise Denied(403, "CSRF token missing or wrong: reload the page and try again")
            fresh = None
            if (ctx.user is not None and ctx.session is None and request.method == "GET"
                    and console.settings.web.trusted_user_header
                    and request.headers.get(console.settings.web.trusted_user_header)):
                # SSO: the proxy vouches for the user; a session gives the pages their CSRF token
                fresh, ctx.session = await run_in_threadpool(
                    start_session, console.store, ctx.user, session_lifetime(console.settings))
            response = await run_in_threadpool(fn, ctx)
            if fresh is not None:
                session_cookie(response, console, fresh)
            return response
        except Denied as exc:
            return _denied(ctx, exc, api)

    return run


async def _read_body(request: Request, ctx: Ctx) -> None:
    kind = request.headers.get("content-type", "")
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
        raise Denied(413, f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    if kind.startswith("application/json"):
        try:
            ctx.json = await request.json()
        except ValueError as exc:
            raise Denied(400, f"the body is not JSON: {exc}") from exc
        return
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form(max_part_size=MAX_UPLOAD)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                ctx.files[key] = (value.filename or "upload", await value.read())
            else:
                ctx.form[key] = str(value)


def _denied(ctx: Ctx, exc: Denied, api: bool) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    if api or ctx.request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)
    html = ctx.console.render("error.html", ctx, status=exc.status, message=exc.message)
    return HTMLResponse(html, status_code=exc.status, headers=headers)


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + self.HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def session_cookie(response: Response, console: Console, sid: str) -> None:
    response.set_cookie(SESSION_COOKIE, sid, max_age=int(session_lifetime(console.settings).total_seconds()),
                        httponly=True, samesite="lax", secure=console.settings.web.https, path="/")


def session_lifetime(settings: Settings) -> timedelta:
    from core.settings.schema import lifetime_seconds

    return timedelta(seconds=lifetime_seconds(settings.web.session_lifetime))
