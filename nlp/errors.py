"""Errors raised by the `nlp` package (text understanding and the sentiment model).

Tree::

    NlpError                 base of everything below; catch this at the pipeline boundary
    ├── TaxonomyError        taxonomy.toml is missing, not TOML, or a key/value is wrong
    │                        (the message names the file and the key, e.g. `topics."信用卡".keywords`)
    └── ModelError           the sentiment model cannot be loaded or run (used by nlp.sentiment)

Library errors (tomllib, OSError, torch/transformers) are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations


class NlpError(Exception):
    """Base class for errors from the nlp package."""


class TaxonomyError(NlpError):
    """The taxonomy file is unusable; the message names the file and the offending key."""


class ModelError(NlpError):
    """A sentiment model could not be loaded or run."""
