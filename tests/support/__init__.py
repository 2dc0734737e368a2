"""Helpers the tests share, imported as a package (`from support.smtp import start_server`):
pytest puts `tests/` on the path (`pythonpath` in pyproject.toml), so no test edits `sys.path`.

    alerts         records and hourly histories for the rule tests (fill a store, spread a burst)
    smtp           a real aiosmtpd server that keeps what it receives (TLS and AUTH when asked)
    http_sink      a real local HTTP server for the webhook tests; can hold a request
    http_server    a real local HTTP server serving saved pages to the spiders
    social         made-up Weibo / 黑猫投诉 pages in the sites' shapes
    surveys        made-up survey rows in each platform's export shape
    es_server      a local Elasticsearch-like server the real client talks to
    store_records  records for the store contract tests
    cli_env        what a `voc` command under test sees (store, model, var dir in tmp_path)
"""
