"""The voc crawlers' Scrapy extensions (EXTENSIONS in crawlers/settings.py).

    cursors.CursorsExtension   where each list's last crawl stopped: read at the start, saved at a
                               "finished" close (crawlers/extensions/cursors.py)

The crawl's health report, `crawlers.health.CrawlHealth`, is an extension too.
"""
