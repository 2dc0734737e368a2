"""Gathering customer voice: Scrapy spiders and survey-export importers.

    spiders/       one spider per source, parsing only (base.py: VocSpider, the shared contract)
    parse/         pure page/API readers the spiders call (JSON in, records out)
    middlewares/   Scrapy downloader middlewares: block detection, retries with backoff
    extensions/    Scrapy extensions: cursors (crawlers/health.py: the crawl's health report)
    pipelines.py   the item pipeline: records to the application's record pipeline
    settings.py    Scrapy settings made from settings.toml; runner.py runs one crawl in a child
    importers/     survey exports and JSONL records, read into records

Everything produced here is a batch of `core.record.Feedback` records handed to `voc.pipeline`.
"""
