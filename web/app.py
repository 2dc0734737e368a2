"""The console's ASGI application: `create_app(settings, store=None, ingest=None)`.

Routes from `web.pages`, each wrapped by `web.frame.endpoint` (who is asking, the role it needs,
CSRF); static files from `web/static/`; the security headers on every response
(`web.frame.SecurityHeaders`). See `web.frame` for the rules every request follows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from core.settings import Settings
from indexer.store import FeedbackStore
from web.cases import routes as cases_routes
from web.frame import HERE, MAX_UPLOAD, Console, Ingest, SecurityHeaders, endpoint
from web.pages import routes
from web.satisfaction import routes as satisfaction_routes


def create_app(settings: Settings, store: FeedbackStore | None = None, *,
               ingest: Ingest | None = None,
               branch_name: Callable[[str], str] | None = None) -> Starlette:
    """The console over `store` (default: the configured one, opened here and closed on shutdown).
    `ingest(records)` stores uploaded survey records through the application's pipeline (the
    shipped model, tags, dedup; `voc web` passes it); without it uploads are refused.
    `branch_name` names an uploaded survey's branches as the taxonomy's branch entities
    (`voc.pipeline.branch_namer`)."""
    owned = store is None
    if store is None:
        from indexer import open_settings_store

        store = open_settings_store(settings)
    console = Console(settings, store, ingest, branch_name)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            console.store.close()

    app = Starlette(routes=[*routes(endpoint), *cases_routes(endpoint), *satisfaction_routes(endpoint),
                            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static")],
                    lifespan=lifespan, max_body_size=MAX_UPLOAD + 1024 * 1024)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    return app


