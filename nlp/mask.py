"""Personal data in comment text, masked: mobile phone numbers, resident ID numbers, bank cards.

    mask_pii("我的卡号6222020200112233445，电话13812345678")
    # '我的卡号6222***********3445，电话138****5678'

Masks keep the text's length (each hidden digit becomes `*`), so entity offsets computed on the
original still point at the same characters. What it finds, as a run of digits not touching other
digits (spaces or dashes inside a card number allowed):

- a mainland mobile number: 11 digits starting 13–19, optionally after +86 / 86;
- a resident ID: 17 digits and a check digit or X (18 characters), shown as its first 6 (the
  region) and last 4;
- a bank card: 16–19 digits, shown as its first 4 and last 4.

Amounts, dates, order and complaint numbers of other lengths are left alone. Names are not found
by a pattern and are not masked here (survey importers drop name columns).
"""

from __future__ import annotations

import re

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3})([\dXx])(?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){15,18}(?![\d-])")
_PHONE = re.compile(r"(?<!\d)((?:\+?86[ -]?)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def _keep_ends(run: str, head: int, tail: int) -> str:
    """`run` with every digit but its first `head` and last `tail` digits as `*` (separators kept)."""
    total = sum(c.isdigit() for c in run)
    out, seen = [], 0
    for c in run:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= head or seen > total - tail else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_pii(text: str) -> str:
    """`text` with phone, ID and bank-card numbers masked (same length)."""
    if not text or not any(c.isdigit() for c in text):
        return text
    text = _ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(3) + m.group(4), text)
    text = _CARD.sub(lambda m: _keep_ends(m.group(0), 4, 4), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
