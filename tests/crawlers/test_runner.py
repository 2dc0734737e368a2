"""crawlers/runner.py's lock (one crawl per source at a time) and the crawl CLI's arguments."""

from __future__ import annotations

import pytest

from crawlers.runner import AlreadyRunning, crawl_lock, crawl_target, run_crawl


def test_second_crawl_of_a_source_is_refused(tmp_path) -> None:
    assert crawl_target("site:forum", {}) == ("site", "site:forum", {"profile": "forum"})
    with crawl_lock(tmp_path, "appstore"):
        with pytest.raises(AlreadyRunning, match="already running"):
            run_crawl("appstore", {}, var_dir=tmp_path)
    with crawl_lock(tmp_path, "appstore"):  # released after the first
        pass


def test_cli_arguments() -> None:
    from voc.cli.common import UsageError
    from voc.cli.crawl import spider_args

    assert spider_args(["app_id=1", "q=a=b"]) == {"app_id": "1", "q": "a=b"}
    with pytest.raises(UsageError):
        spider_args(["novalue"])
