"""The console's pages and their JSON twins (`routes(endpoint)`; the frame is `web.frame`).

    /login  /logout                     the login form (username, password, csrf_token)
    /            /api/overview          the last 24 h and 7 days, open incidents, sources in trouble
    /search      /api/search  /search.csv
    /records/{id}  /api/records/{id}    POST /records/{id}/label (operator): correct the labels
    /alerts      /api/alerts            incidents and their firings; /incidents/{id}
                                        POST /incidents/{id}/ack, /alerts/silence, /alerts/{id}/feedback
    /sources     /api/sources           crawl health; POST /sources/crawl, POST /api/crawl (202),
                                        /jobs/{id}, /api/jobs/{id}
    /surveys                            POST /surveys (operator): upload an export
    /admin/users  /admin/audit  /api/audit   (admin)
    /healthz                            liveness, no login

Roles: every read needs viewer; acknowledging, silencing, feedback, label corrections, re-crawls
and uploads need operator; users and the audit log need admin.
"""

from __future__ import annotations

import csv
import io
import secrets
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from web import data
from web.auth import (
    ROLES,
    AuthError,
    add_user,
    end_session,
    list_users,
    set_disabled,
    set_role,
    start_session,
)
from web.frame import LOGIN_COOKIE, SESSION_COOKIE, Ctx, Denied, session_cookie, session_lifetime

VERDICTS = {"useful": "有用", "false_alarm": "误报"}


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never //host or a scheme) after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- login ---------------------------------------------------------------------------------------

def login_form(ctx: Ctx, message: str = "", status: int = 200) -> Response:
    token = ctx.request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = ctx.render("login.html", status=status, login_csrf=token, message=message,
                          next=_safe_next(ctx.params.get("next") or ctx.form.get("next")))
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=ctx.console.settings.web.https, path="/login")
    return response


def login(ctx: Ctx) -> Response:
    from web.auth import verify_password

    sent, expected = ctx.form.get("csrf_token", ""), ctx.request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        raise Denied(403, "CSRF token missing or wrong: reload the login page")
    name, password = ctx.form.get("username", "").strip(), ctx.form.get("password", "")
    wait = ctx.console.limiter.retry_after(name, ctx.address)
    if wait:
        ctx.audit("login_limited", name)
        raise Denied(429, f"登录失败次数过多，请 {wait} 秒后再试", retry_after=wait)
    user = verify_password(ctx.store, name, password)
    if user is None:
        ctx.console.limiter.failed(name, ctx.address)
        audit_as(ctx, name, "login_failed")
        return login_form(ctx, "用户名或密码错误", status=401)
    ctx.console.limiter.succeeded(name)
    sid, session = start_session(ctx.store, user, session_lifetime(ctx.console.settings))
    ctx.user, ctx.session = user, session
    ctx.audit("login")
    response = _back(_safe_next(ctx.form.get("next")))
    session_cookie(response, ctx.console, sid)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def audit_as(ctx: Ctx, name: str, action: str) -> None:
    from web import audit

    audit.record(ctx.store, name[:64] or "-", action, address=ctx.address)


def logout(ctx: Ctx) -> Response:
    end_session(ctx.store, ctx.request.cookies.get(SESSION_COOKIE, ""))
    ctx.audit("logout")
    response = _back("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- overview, search, records ---------------------------------------------------------------------

def overview(ctx: Ctx) -> Response:
    return ctx.render("overview.html", data=data.overview(ctx.store))


def api_overview(ctx: Ctx) -> Response:
    return _json(data.overview(ctx.store))


def _query(ctx: Ctx) -> data.SearchQuery:
    try:
        return data.parse_search(ctx.params, ctx.console.tz)
    except data.BadQuery as exc:
        raise Denied(400, str(exc)) from exc


def search(ctx: Ctx) -> Response:
    query = _query(ctx)
    result = data.search(ctx.store, query)
    pages = max(1, -(-result["total"] // query.size))
    params = query.params()
    return ctx.render("search.html", query=query, result=result, params=params,
                      pages=pages, page_link=lambda n: "/search?" + urlencode({**params, "page": n}),
                      csv_link="/search.csv?" + urlencode(params), highlight=highlight)


def api_search(ctx: Ctx) -> Response:
    return _json(data.search(ctx.store, _query(ctx)))


def search_csv(ctx: Ctx) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(data.csv_rows(ctx.store, _query(ctx)))
    ctx.audit("export", "search", ctx.request.url.query[:200])
    stamp = datetime.now(UTC).astimezone(ctx.console.tz).strftime("%Y%m%d-%H%M")
    return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="voc-search-{stamp}.csv"'})


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_match) for the template to escape and mark."""
    from nlp.normalize import search_text

    if not query:
        return [(text, False)]
    needle = search_text(query).lower()
    folded = search_text(text).lower()
    if len(folded) != len(text) or not needle:  # folding changed lengths: mark nothing rather than wrongly
        return [(text, False)]
    out, start = [], 0
    while (found := folded.find(needle, start)) != -1:
        out += [(text[start:found], False), (text[found:found + len(needle)], True)]
        start = found + len(needle)
    return [*out, (text[start:], False)]


def record(ctx: Ctx) -> Response:
    from indexer.labels import correction

    view = data.record_view(ctx.store, ctx.request.path_params["id"])
    if view is None:
        raise Denied(404, "no such record")
    from nlp.taxonomy import load_taxonomy

    topics = sorted(t.name for t in load_taxonomy(ctx.console.settings.nlp.taxonomy).topics)
    return ctx.render("record.html", record=view, correction=correction(ctx.store, view["id"]),
                      topic_names=topics)


def api_record(ctx: Ctx) -> Response:
    from indexer.labels import correction

    view = data.record_view(ctx.store, ctx.request.path_params["id"])
    if view is None:
        raise Denied(404, "no such record")
    return _json({**view, "correction": correction(ctx.store, view["id"])})


def correct_label(ctx: Ctx) -> Response:
    from indexer.labels import CorrectionError, correct

    record_id = ctx.request.path_params["id"]
    topics_text = ctx.form.get("topics")
    topics = [t.strip() for t in topics_text.replace("，", ",").split(",") if t.strip()] \
        if topics_text is not None else None
    try:
        doc = correct(ctx.store, record_id, by=ctx.user.name if ctx.user else "-",
                      sentiment=ctx.form.get("sentiment") or None, topics=topics)
    except CorrectionError as exc:
        raise Denied(400, str(exc)) from exc
    ctx.audit("label", record_id, f"sentiment={doc['sentiment']} topics={','.join(doc['topics'] or [])}")
    return _back(f"/records/{record_id}")


# -- alerts ----------------------------------------------------------------------------------------

def alerts_page(ctx: Ctx) -> Response:
    return ctx.render("alerts.html", view=data.alerts_view(ctx.store), verdicts=VERDICTS)


def api_alerts(ctx: Ctx) -> Response:
    return _json(data.alerts_view(ctx.store))


def incident_page(ctx: Ctx) -> Response:
    found = data.incident_view(ctx.store, ctx.request.path_params["id"])
    if found is None:
        raise Denied(404, "no such incident")
    return ctx.render("incident.html", incident=found, verdicts=VERDICTS)


def acknowledge(ctx: Ctx) -> Response:
    from alerts.incidents import IncidentBook

    book = IncidentBook(ctx.store)
    incident = book.get(ctx.request.path_params["id"])
    if incident is None:
        raise Denied(404, "no such incident")
    incident.acknowledged_by = ctx.user.name if ctx.user else "-"
    incident.acknowledged_at = datetime.now(UTC)
    book.save(incident)
    ctx.audit("acknowledge", incident.id)
    return _back(f"/incidents/{incident.id}")


def silence(ctx: Ctx) -> Response:
    from alerts import parse_duration
    from alerts import silence as put_silence
    from alerts.incidents import IncidentBook

    target = ctx.form.get("target", "").strip()
    try:
        length = parse_duration(ctx.form.get("duration", "24h"))
    except ValueError as exc:
        raise Denied(400, f"duration: {exc}") from exc
    if target.startswith("incident:"):
        incident = IncidentBook(ctx.store).get(target.split(":", 1)[1])
        if incident is None:
            raise Denied(404, "no such incident")
        keys = sorted(incident.keys)
    elif ":" in target:
        keys = [target]
    else:
        raise Denied(400, "target must be RULE:KEY or incident:ID")
    until = datetime.now(UTC) + length
    reason = ctx.form.get("reason", "")[:200]
    for key in keys:
        put_silence(ctx.store, key, until, reason=reason)
    ctx.audit("silence", target, f"until {until.isoformat()} {reason}")
    back = _safe_next(ctx.form.get("back"))
    return _back(back if back != "/" else "/alerts")


def feedback_form(ctx: Ctx) -> Response:
    from alerts.feedback import find_alert

    alert_id = ctx.request.path_params["id"]
    entry = find_alert(ctx.store, alert_id)
    if entry is None:
        raise Denied(404, "no such alert")
    verdict = ctx.params.get("verdict", "")
    return ctx.render("feedback.html", alert=entry, verdict=verdict if verdict in VERDICTS else "",
                      verdicts=VERDICTS)


def feedback(ctx: Ctx) -> Response:
    from alerts.feedback import UnknownAlert, give_feedback

    alert_id = ctx.request.path_params["id"]
    verdict = ctx.form.get("verdict", "")
    if verdict not in VERDICTS:
        raise Denied(400, "verdict must be useful or false_alarm")
    try:
        doc = give_feedback(ctx.store, alert_id, verdict, by=ctx.user.name if ctx.user else "-",
                            now=datetime.now(UTC), note=ctx.form.get("note", "")[:500])
    except UnknownAlert as exc:
        raise Denied(404, str(exc)) from exc
    ctx.audit("feedback", alert_id, verdict)
    return _back(f"/incidents/{doc['incident']}" if doc.get("incident") else "/alerts")


# -- sources and crawl jobs ------------------------------------------------------------------------

def sources_page(ctx: Ctx) -> Response:
    from crawlers import jobs

    return ctx.render("sources.html", sources=data.sources(ctx.store), jobs=jobs.recent(ctx.store, 20))


def api_sources(ctx: Ctx) -> Response:
    return _json(data.sources(ctx.store))


def _enqueue(ctx: Ctx, source: str) -> Any:
    from crawlers import jobs

    try:
        job = jobs.enqueue(ctx.store, source, by=ctx.user.name if ctx.user else "-")
    except ValueError as exc:
        raise Denied(400, str(exc)) from exc
    ctx.audit("crawl", source, job.id)
    return job


def crawl(ctx: Ctx) -> Response:
    job = _enqueue(ctx, ctx.form.get("source", "").strip())
    return _back(f"/jobs/{job.id}")


def api_crawl(ctx: Ctx) -> Response:
    source = ctx.json.get("source", "") if isinstance(ctx.json, dict) else ""
    if not isinstance(source, str) or not source:
        raise Denied(400, 'send {"source": "<crawl name>"}')
    job = _enqueue(ctx, source)
    return _json({"id": job.id, "state": job.state, "source": job.source}, status=202)


def _job(ctx: Ctx) -> Any:
    from crawlers import jobs

    job = jobs.get(ctx.store, ctx.request.path_params["id"])
    if job is None:
        raise Denied(404, "no such job")
    return job


def job_page(ctx: Ctx) -> Response:
    return ctx.render("job.html", job=_job(ctx).to_dict())


def api_job(ctx: Ctx) -> Response:
    return _json(_job(ctx).to_dict())


# -- surveys ---------------------------------------------------------------------------------------

PLATFORMS = (("", "自动识别"), ("wjx", "问卷星"), ("tencent", "腾讯问卷"), ("csv", "CSV"))


def surveys_page(ctx: Ctx) -> Response:
    return ctx.render("surveys.html", platforms=PLATFORMS, result=None)


def upload_survey(ctx: Ctx) -> Response:
    from core.errors import VocError
    from crawlers.importers import import_file

    if ctx.console.ingest is None:
        raise Denied(503, "this console was started without an ingest pipeline (use `voc web`)")
    if "file" not in ctx.files or not ctx.files["file"][1]:
        raise Denied(400, "choose a file to upload")
    name, content = ctx.files["file"]
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xls", ".txt", ".tsv"):
        raise Denied(400, f"{suffix or 'a file without a suffix'}: upload a .csv, .xlsx or .xls export")
    platform = ctx.form.get("platform") or None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            result = import_file(path, platform=platform, salt=ctx.console.settings.pseudonym_salt(),
                                 branch_name=ctx.console.branch_name)
        except (VocError, ValueError) as exc:
            return ctx.render("surveys.html", status=400, platforms=PLATFORMS,
                              result={"file": name, "error": str(exc)})
    report = ctx.console.ingest(result.records)
    from care.satisfaction import keep_responses

    keep_responses(ctx.store, result.responses)  # a response without an open answer counts too
    ctx.audit("upload", name, f"rows {result.rows_read}, kept {len(result.records)}, "
                              f"rejected {len(result.errors)}")
    return ctx.render("surveys.html", platforms=PLATFORMS, result={
        "file": name, "platform": result.platform, "rows": result.rows_read,
        "kept": len(result.records), "errors": [{"line": e.line, "reason": e.reason} for e in result.errors],
        "personal_columns": getattr(result, "personal_columns", {}), "report": report, "error": None})


# -- admin -----------------------------------------------------------------------------------------

def users_page(ctx: Ctx, message: str = "") -> Response:
    return ctx.render("users.html", users=list_users(ctx.store), roles=ROLES, message=message)


def users_add(ctx: Ctx) -> Response:
    name, role = ctx.form.get("username", "").strip(), ctx.form.get("role", "viewer")
    try:
        add_user(ctx.store, name, role, ctx.form.get("password", ""), by=ctx.user.name if ctx.user else "")
    except AuthError as exc:
        return users_page(ctx, str(exc))
    ctx.audit("user_add", name, role)
    return _back("/admin/users")


def users_change(ctx: Ctx) -> Response:
    name = ctx.request.path_params["name"]
    try:
        if ctx.form.get("action") == "disable":
            set_disabled(ctx.store, name, True)
            ctx.audit("user_disable", name)
        elif ctx.form.get("action") == "enable":
            set_disabled(ctx.store, name, False)
            ctx.audit("user_enable", name)
        else:
            set_role(ctx.store, name, ctx.form.get("role", ""))
            ctx.audit("user_role", name, ctx.form.get("role", ""))
    except AuthError as exc:
        return users_page(ctx, str(exc))
    return _back("/admin/users")


def audit_page(ctx: Ctx) -> Response:
    from web import audit

    return ctx.render("audit.html", entries=audit.entries(ctx.store, limit=500))


def api_audit(ctx: Ctx) -> Response:
    from web import audit

    return _json(audit.entries(ctx.store, limit=500))


def healthz(ctx: Ctx) -> Response:
    return PlainTextResponse("ok")


def routes(endpoint: Callable[..., Any]) -> list[Route]:
    """Every route with the role it needs (None: anyone)."""
    def page(path: str, fn: Callable[[Ctx], Response], role: str | None = "viewer") -> Route:
        return Route(path, endpoint(role, fn), methods=["GET"])

    def api(path: str, fn: Callable[[Ctx], Response], role: str = "viewer", method: str = "GET") -> Route:
        return Route(path, endpoint(role, fn, api=True, write=method != "GET"), methods=[method])

    def post(path: str, fn: Callable[[Ctx], Response], role: str | None = "operator") -> Route:
        return Route(path, endpoint(role, fn, write=True), methods=["POST"])

    return [
        page("/login", login_form, role=None), post("/login", login, role=None),
        post("/logout", logout, role="viewer"), page("/healthz", healthz, role=None),
        page("/", overview), api("/api/overview", api_overview),
        page("/search", search), api("/api/search", api_search), page("/search.csv", search_csv),
        page("/records/{id}", record), api("/api/records/{id}", api_record),
        post("/records/{id}/label", correct_label),
        page("/alerts", alerts_page), api("/api/alerts", api_alerts),
        page("/incidents/{id}", incident_page), post("/incidents/{id}/ack", acknowledge),
        post("/alerts/silence", silence),
        page("/alerts/{id}/feedback", feedback_form), post("/alerts/{id}/feedback", feedback),
        page("/sources", sources_page), api("/api/sources", api_sources),
        post("/sources/crawl", crawl), api("/api/crawl", api_crawl, role="operator", method="POST"),
        page("/jobs/{id}", job_page), api("/api/jobs/{id}", api_job),
        page("/surveys", surveys_page), post("/surveys", upload_survey),
        page("/admin/users", users_page, role="admin"), post("/admin/users", users_add, role="admin"),
        post("/admin/users/{name}", users_change, role="admin"),
        page("/admin/audit", audit_page, role="admin"), api("/api/audit", api_audit, role="admin"),
    ]
