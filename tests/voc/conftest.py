"""Fixtures for the pipeline and CLI tests: a tiny random sentiment model (built once per session,
so the tests run in seconds), the shipped taxonomy's tagger, and records with terse arguments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.record import Feedback, make_id

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nlp.sentiment import build_tiny_model

    path = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def classifier(tiny_model_dir: Path) -> Any:
    from nlp.sentiment import SentimentClassifier

    return SentimentClassifier.load(tiny_model_dir)


@pytest.fixture(scope="session")
def tagger() -> Any:
    from nlp.tagging import Tagger

    return Tagger.from_file(None, bank_name="江南银行", bank_aliases=("江南行",))


@pytest.fixture
def record() -> Callable[..., Feedback]:
    def build(text: str, key: str, *, source: str = "weibo", kind: str = "post",
              hours_ago: float = 1.0, **extra: Any) -> Feedback:
        return Feedback(id=make_id(source, native_id=key), source=source, kind=kind, text=text,
                        created_at=NOW - timedelta(hours=hours_ago), **extra)
    return build

