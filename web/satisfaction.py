"""The console's satisfaction page: `/satisfaction` and `/api/satisfaction` (role viewer).

What `voc csat` shows, from `care.satisfaction` over the store's survey answers: the trend of
CSAT by month (an ECharts line drawn by web/static/app.js from the JSON twin), the table by the
chosen segment with its Wilson intervals (groups under `[satisfaction] min_n` flagged), the
drivers (topics and risk flags by gap x share) and the key drivers of the overall rating on the
sub-ratings (Shapley decomposition of R²).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from care.satisfaction import BY, csat_table, drivers, key_drivers, responses
from web.frame import Ctx, Denied

SEGMENT_NAMES = {"branch": "网点", "channel": "渠道", "product": "产品", "customer_type": "客户类型",
                 "city": "城市", "question": "题目", "week": "周", "month": "月"}


def satisfaction_data(ctx: Ctx) -> dict[str, Any]:
    by = ctx.params.get("by") or "branch"
    if by not in BY:
        raise Denied(400, f"by must be one of {', '.join(BY)}")
    min_n = ctx.console.settings.satisfaction.min_n
    rs = responses(ctx.store)
    tz = ctx.console.tz
    return {"by": by, "responses": len(rs), "min_n": min_n,
            "table": csat_table(ctx.store, [by], min_n=min_n, tz=tz).to_dict(),
            "trend": sorted(csat_table(ctx.store, ["month"], min_n=min_n, tz=tz).groups,
                            key=lambda g: g["key"]["month"]),
            "drivers": drivers(rs, min_n=min_n)[:15], "key_drivers": key_drivers(rs)}


def page(ctx: Ctx) -> Response:
    return ctx.render("satisfaction.html", data=satisfaction_data(ctx), segments=SEGMENT_NAMES)


def api(ctx: Ctx) -> Response:
    return JSONResponse(satisfaction_data(ctx))


def routes(endpoint: Callable[..., Any]) -> list[Route]:
    return [Route("/satisfaction", endpoint("viewer", page), methods=["GET"]),
            Route("/api/satisfaction", endpoint("viewer", api, api=True), methods=["GET"])]
