"""The Jinja2 environment that renders the HTML emails from `alerts/render/templates/`.

    _base.html          the document frame every email page extends
    _tables.html        shared macros: `figures_table`, `comments_table` (a table of comments, for the
                        web console too), `grid` (a table with a header row)
    alert_email.html    an alert (alerts.render.message.render_html)
    digest_email.html   the daily digest (alerts.render.digest.digest_html)

Autoescape is on for every template, so every `{{ value }}` is escaped — comments, titles, sources
and URLs from the internet, and a `{{ }}` inside them is only text: values are never templates.
Callers pass plain values; nothing is escaped by hand. `finalize` only picks the entity spelling of
the standard library (`&#x27;`, `&quot;`), which is what these emails have always carried; a value
already marked safe (a macro's output) passes through. Undefined names are errors, not blanks.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup


def _escape(value: Any) -> Markup:
    if isinstance(value, Markup) or hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(html.escape(str(value), quote=True))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one environment (templates are compiled once per process)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerts.render", "templates"),
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """Template `name` rendered with `context`."""
    return environment().get_template(name).render(**context)
