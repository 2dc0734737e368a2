"""The environment a `voc` command under test runs in; imported by name (`from support.cli_env import
cli_env`) because a `conftest` module name is shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: Path) -> None:
    """What a `voc` command under test sees: the working directory, store, model, var dir and
    outbox all inside `tmp_path`, no Kibana link, no VOC_SETTINGS from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOC_STORE__PATH", str(tmp_path / "voc.db"))
    monkeypatch.setenv("VOC_NLP__MODEL_PATH", str(model_dir))
    monkeypatch.setenv("VOC_APP__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VOC_NOTIFY__OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOC_KIBANA__URL", "")
    monkeypatch.delenv("VOC_SETTINGS", raising=False)
