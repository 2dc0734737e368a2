"""Shared by every test: each test starts with the default display timezone (Asia/Shanghai), since
loading settings with another `[app] timezone` makes that zone the process's display timezone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.record import DISPLAY_TZ, use_display_tz


@pytest.fixture(autouse=True)
def _display_timezone() -> Iterator[None]:
    use_display_tz(DISPLAY_TZ)
    yield
    use_display_tz(DISPLAY_TZ)
