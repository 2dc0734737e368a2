"""The web console for PR and service staff: search, incidents, sources and the re-crawl button,
behind a login (`voc web`).

    app.py       the ASGI app (Starlette): routes, static files, security headers
    frame.py     what every request goes through: who is asking, roles, CSRF, rendering
    pages.py     the pages and their JSON twins under /api/
    data.py      what they show, read through the FeedbackStore interface only
    auth.py      users (argon2 hashes), API tokens, sessions, the login limiter — all in the store
    audit.py     the audit log (/admin/audit, `voc audit`)
    templates/   Jinja2, autoescape on; static/ our CSS and JS and the vendored ECharts

It imports core, nlp, indexer, crawlers (importers, crawl jobs) and alerts; the application (`voc`)
imports it and hands it the ingest pipeline for uploads.
"""
