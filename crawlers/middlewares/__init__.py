"""The voc crawlers' Scrapy downloader middlewares (DOWNLOADER_MIDDLEWARES in crawlers/settings.py).

    blocks.BlockMiddleware         every response a spider asked for is checked for a ban, a captcha
                                   or a login page before a callback sees it: the crawl ends "blocked"
    retry.BackoffRetryMiddleware   429/5xx and connection errors retried with exponential backoff
"""
