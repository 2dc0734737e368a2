"""Rendering: an alert (or the daily digest) as the words, email, markdown and chart people read.

    text.py        the words every format shares: subject, banner, figures, comments, `voc search`
    message.py     the alert email (text/plain + HTML + inline chart), `build_message`
    markdown.py    the chat robots' markdown, untrusted text made inert, within their size limits
    chart.py       the inline PNG: negative records per hour over 48 h against the baseline
    digest.py      the daily digest's subject, email and markdown
    links.py       where an alert points for its data: a URL, `link_for(alert)`, Kibana Discover
    templates.py   the Jinja2 environment (autoescape on) of `templates/*.html`

Nothing here delivers anything (that is `alerts.notify`) or reads the store.
"""
