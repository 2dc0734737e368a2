"""Exceptions raised by the `voc` glue package (configuration and the pipeline).

Other packages keep their own trees in their own `errors.py` (indexer, crawlers, nlp, alerts);
catch `VocError` to handle anything this package raises on purpose::

    VocError                    base of everything below
    ├── ConfigError             settings.toml or a VOC_* variable is wrong; names the key and the file
    │                           (or the environment variable) so start-up stops with a fixable message
    └── PipelineError           a batch could not be taken through normalize → classify → tag → store

Library errors are wrapped with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations


class VocError(Exception):
    """Base of the voc package's exceptions."""


class ConfigError(VocError):
    """Settings are missing, unknown or of the wrong type.

    `key` is the dotted settings key (``store.backend``) and `source` the file path or the
    environment variable it came from, when known; the message already names both.
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.source = source


class PipelineError(VocError):
    """A batch of records could not be processed."""
