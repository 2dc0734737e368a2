"""The console's cases (工单) pages and their JSON twins (`routes(endpoint)`, added by `web.app`).

    /cases            /api/cases          every case, newest first; ?status= ?team= ?overdue=1
                                          POST /cases (operator): open one by hand
    /cases/{id}       /api/cases/{id}     one case: records, deadline, notes, 回访, history
    POST /cases/{id}/status | assign | note | callback      (operator; forms, CSRF)
    POST /api/cases/{id}/status | assign | note | callback  (operator; JSON body, same fields)

Reads need viewer, changes operator, each change is in the audit log. Personal contact data is
masked everywhere but the case's own page, and there only for operators (a viewer sees it masked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from care.cases import CHANNELS, OUTCOMES, STATUS_NAMES, STATUSES, Case, CaseBook, CaseError
from core.record import SEVERITIES
from web.frame import Ctx, Denied

ACTIONS = ("status", "assign", "note", "callback")


def _book(ctx: Ctx) -> CaseBook:
    return CaseBook.from_settings(ctx.console.settings, ctx.store)


def _view(case: Case, now: datetime, masked: bool = True) -> dict[str, Any]:
    return {**case.to_dict(masked=masked), "overdue": case.overdue(now), "status_name": case.status_name}


def _listing(ctx: Ctx) -> dict[str, Any]:
    now = datetime.now(UTC)
    status, team = ctx.params.get("status", ""), ctx.params.get("team", "")
    overdue = ctx.params.get("overdue")
    cases = [c for c in _book(ctx).all() if (not status or c.status == status)
             and (not team or c.team == team) and (not overdue or c.overdue(now))]
    teams = sorted({*ctx.console.settings.cases.teams, ctx.console.settings.cases.default_team})
    return {"cases": [_view(c, now) for c in cases[:500]], "total": len(cases),
            "filters": {"status": status, "team": team, "overdue": bool(overdue)}, "teams": teams}


def cases_page(ctx: Ctx) -> Response:
    return ctx.render("cases.html", view=_listing(ctx), statuses=STATUS_NAMES, severities=SEVERITIES)


def api_cases(ctx: Ctx) -> Response:
    return JSONResponse(_listing(ctx))


def _case(ctx: Ctx) -> dict[str, Any]:
    try:
        case = _book(ctx).find(ctx.request.path_params["id"])
    except CaseError as exc:
        raise Denied(404, str(exc)) from exc
    whole = ctx.user is not None and ctx.user.can("operator")
    records = ctx.store.get_many(case.records[:20]) if case.records else {}
    from nlp.mask import mask_pii

    linked = [{"id": r.id, "source": r.source, "created_at": r.created_at.isoformat(),
               "text": mask_pii(r.text)[:300], "rating": r.rating} for r in records.values()]
    return {**_view(case, datetime.now(UTC), masked=not whole), "linked": linked}


def case_page(ctx: Ctx) -> Response:
    settings = ctx.console.settings.cases
    return ctx.render("case.html", case=_case(ctx), statuses=STATUS_NAMES, channels=CHANNELS,
                      outcomes=OUTCOMES, codes=settings.resolution_codes,
                      teams=sorted({*settings.teams, settings.default_team}))


def api_case(ctx: Ctx) -> Response:
    return JSONResponse(_case(ctx))


def _fields(ctx: Ctx) -> dict[str, Any]:
    if isinstance(ctx.json, dict):
        return {k: v for k, v in ctx.json.items() if k != "csrf_token"}
    return {k: v for k, v in ctx.form.items() if k != "csrf_token"}


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Denied(400, f"satisfaction must be a number 1-5, got {value!r}") from exc


def change(ctx: Ctx, action: str, fields: dict[str, Any]) -> Case:
    """One change to the case in the path, as the signed-in user; CaseError is a 400."""
    book, by, now = _book(ctx), ctx.user.name if ctx.user else "-", datetime.now(UTC)
    ref = ctx.request.path_params["id"]
    text = {k: str(v) for k, v in fields.items() if isinstance(v, str)}
    try:
        if action == "status":
            case = book.move(ref, text.get("status", ""), by=by, now=now, note=text.get("note", ""),
                             code=text.get("code", ""))
        elif action == "assign":
            case = book.assign(ref, by=by, now=now, assignee=text.get("assignee"),
                               team=text.get("team") or None)
        elif action == "note":
            case = book.note(ref, text.get("text", ""), by=by, now=now)
        else:
            case = book.callback(ref, channel=text.get("channel", ""), outcome=text.get("outcome", ""),
                                 satisfaction=_number(fields.get("satisfaction")), note=text.get("note", ""),
                                 by=by, now=now)
    except CaseError as exc:
        raise Denied(404 if str(exc).startswith("no case") else 400, str(exc)) from exc
    ctx.audit(f"case_{action}", case.id, " ".join(f"{k}={v}" for k, v in text.items() if k != "text")[:200])
    return case


def post_change(action: str) -> Callable[[Ctx], Response]:
    def run(ctx: Ctx) -> Response:
        case = change(ctx, action, _fields(ctx))
        return RedirectResponse(f"/cases/{case.id}", status_code=303)
    return run


def api_change(action: str) -> Callable[[Ctx], Response]:
    def run(ctx: Ctx) -> Response:
        case = change(ctx, action, _fields(ctx))
        return JSONResponse(_view(case, datetime.now(UTC), masked=False))
    return run


def open_case(ctx: Ctx) -> Response:
    fields = {k: str(v) for k, v in _fields(ctx).items()}
    records = [r.strip() for r in fields.get("records", "").replace("，", ",").split(",") if r.strip()]
    found = ctx.store.get_many(records) if records else {}
    if len(found) != len(records):
        raise Denied(400, f"no such record: {next(r for r in records if r not in found)}")
    rated = [found[r].rating for r in records if found[r].rating is not None]
    contact = {k: fields.get(f"contact_{k}", "") for k in ("name", "phone", "email")}
    team = fields.get("team") or ctx.console.settings.cases.default_team
    try:
        case = _book(ctx).open(fields.get("title", ""), team=team, severity=fields.get("severity", "warning"),
                               by=ctx.user.name if ctx.user else "-", now=datetime.now(UTC), records=records,
                               incident=fields.get("incident", ""),
                               assignee=fields.get("assignee", ""), contact=contact,
                               rating_before=rated[0] if rated else None)
    except CaseError as exc:
        raise Denied(400, str(exc)) from exc
    ctx.audit("case_open", case.id, case.team)
    if ctx.request.url.path.startswith("/api/"):
        return JSONResponse(_view(case, datetime.now(UTC), masked=False), status_code=201)
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def routes(endpoint: Callable[..., Any]) -> list[Route]:
    """The cases routes with the role each needs."""
    out = [Route("/cases", endpoint("viewer", cases_page), methods=["GET"]),
           Route("/api/cases", endpoint("viewer", api_cases, api=True), methods=["GET"]),
           Route("/cases", endpoint("operator", open_case, write=True), methods=["POST"]),
           Route("/api/cases", endpoint("operator", open_case, api=True, write=True), methods=["POST"]),
           Route("/cases/{id}", endpoint("viewer", case_page), methods=["GET"]),
           Route("/api/cases/{id}", endpoint("viewer", api_case, api=True), methods=["GET"])]
    for action in ACTIONS:
        out += [Route(f"/cases/{{id}}/{action}", endpoint("operator", post_change(action), write=True),
                      methods=["POST"]),
                Route(f"/api/cases/{{id}}/{action}", endpoint("operator", api_change(action), api=True,
                                                              write=True), methods=["POST"])]
    return out


__all__ = ["STATUSES", "routes"]
