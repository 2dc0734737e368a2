"""The 黑猫投诉 (tousu.sina.com.cn) request signature.

The site's own JS signs every list call: ``ts`` (the client clock in milliseconds), ``rs`` (16
random characters from ``[0-9a-zA-Z]``) and ``signature`` = SHA-256 hex of the concatenation of
the *sorted* values of the other query parameters together with a public salt from that JS.
For the latest feed that is ``sorted([SALT, page_size, ts, type, page, rs])`` (SOURCES.md); the
keyword search signs ``keywords`` instead of ``type``, the company list signs ``couid`` and
``type``. The server checks ``ts`` against its clock, so the crawler's clock must be accurate.

Sorting follows JavaScript's default ``Array.prototype.sort``: values compared as strings, by
UTF-16 code units (which differs from Python's code-point order only beyond the BMP).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Mapping

SALT = "$d6eb7ff91ee257475%"
_RS_ALPHABET = string.digits + string.ascii_lowercase + string.ascii_uppercase


def signature(values: list[str], salt: str = SALT) -> str:
    """SHA-256 hex of the salt and `values`, sorted the way the site's JS sorts them, joined."""
    ordered = sorted([salt, *values], key=lambda v: v.encode("utf-16-be"))
    return hashlib.sha256("".join(ordered).encode("utf-8")).hexdigest()


def random_rs(length: int = 16) -> str:
    """A fresh ``rs`` nonce: `length` characters from [0-9a-zA-Z]."""
    return "".join(secrets.choice(_RS_ALPHABET) for _ in range(length))


def signed_query(params: Mapping[str, str | int], *, ts_ms: int, rs: str,
                 salt: str = SALT) -> dict[str, str]:
    """`params` plus ``ts``, ``rs`` and their ``signature``, as the query the site expects
    (``ts``, ``rs``, ``signature`` first, like the site's own URLs)."""
    if "signature" in params or "ts" in params or "rs" in params:
        raise ValueError("params must not already carry ts, rs or signature")
    values = {k: str(v) for k, v in params.items()}
    sig = signature([str(ts_ms), rs, *values.values()], salt)
    return {"ts": str(ts_ms), "rs": rs, "signature": sig, **values}
