"""The `voc` command, one module per command group:

    main      the parser, the entry point (`voc = "voc.cli:main"`) and the exit codes
    common    what the command modules share (usage error, flags, settings, printers)
    records   import, index --retry-spool
    classify  classify
    query     search, stats
    alerts    alerts check | backtest | list | silence | feedback | test-email | digest
    crawl     crawl
    worker    worker (the crawl jobs the console queues)
    web       web, users, audit, labels export
    es        es setup, kibana import
    cases     cases list | show | open | assign | note | status | callback | close, report weekly

`voc demo` and `voc run` are registered in `main` and run `voc.demo` and `voc.scheduler`.
"""

from voc.cli.main import main

__all__ = ["main"]
