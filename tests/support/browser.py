"""Headless Chromium for the tests that look at a page as a person would: Debian's `chromium` and
`chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver; `.ci/run` installs them), driven by
Selenium with both paths given, so Selenium Manager never downloads a browser or a driver.

`chromium()` yields a WebDriver; tests that need it skip, saying why, when the binaries are absent.
`login()` signs in through the console's form and waits for the signed-in page, so the next `get`
does not race the form's submission.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)


def _first(paths: tuple[str, ...], name: str) -> str | None:
    found = next((p for p in paths if Path(p).exists()), None)
    return found or shutil.which(name)


@contextmanager
def chromium(width: int = 900, height: int = 1400) -> Iterator[Any]:
    browser, driver_path = _first(CHROMIUM, "chromium"), _first(DRIVER, "chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--lang=zh-CN"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(browser: Any, condition: Any, timeout: float = 20) -> Any:
    """Poll `condition` until it is truthy. An element htmx swaps out between `find_element` and
    `.text` is stale for that poll, not a failure: the next poll finds the new one (CI stop 26 failed
    on exactly that race)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, timeout, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    return wait.until(lambda _: condition())


def login(browser: Any, url: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(url + "/login")
    browser.find_element(By.NAME, "username").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.ID, "login").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "me"))
    assert name in browser.find_element(By.ID, "me").text
