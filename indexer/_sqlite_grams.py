"""The bigram index of the SQLite store: one- and two-character search terms without a scan.

The FTS5 trigram index (`fts`) cannot answer a term shorter than three characters, and scanning
every body for `闪退` costs about half a second at 1M records. `grams` is a second FTS5 table,
contentless (`content=''`: it stores no text, only which records hold which token) with
`detail=none` (no positions), over tokens this module makes from the searched text: every pair of
adjacent characters (`闪退`, `退了`), and the last character of each run as a token of its own. So:

- a two-character term is one token: `grams MATCH '"闪退"'` lists exactly the records holding it;
- a one-character term is a prefix: `"贷"*` matches every token starting with 贷, and every 贷 of a
  text starts one (the pair with its next character, or the run's last character alone).

The table's `ascii` tokenizer splits tokens at ASCII spaces and punctuation (and folds ASCII case,
as LIKE does); any other character — CJK, full-width punctuation, emoji — is part of a token. So a
run is a stretch of characters without ASCII spaces or punctuation, and a term holding one of
those (`5%`, `A+`) cannot be asked of this index: `gram_match` says None and the store scans, as
before. The tokens of a record are its title's and its text's (never a pair across the two), each
once. A contentless table forgets what it was given, so the store removes a record's tokens by
giving them again (`'delete'`, computed from the old text by the same `tokens`): changing `tokens`
means rebuilding the table (a new schema version). About 45 MB per million short comments.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\x00-/:-@\[-`{-\x7f]+")  # what `ascii` splits at: ASCII but letters, digits
DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS grams USING fts5("
       "g, content='', columnsize=0, detail=none, tokenize='ascii')")
INSERT = "INSERT INTO grams (rowid, g) VALUES (?, ?)"
DELETE = "INSERT INTO grams (grams, rowid, g) VALUES ('delete', ?, ?)"


def _in_token(c: str) -> bool:
    """Whether the `ascii` tokenizer keeps `c` inside a token (every non-ASCII character does)."""
    return c >= "\x80" or c.isalnum()


def tokens(*texts: str) -> str:
    """The `grams` document for the searched forms of a record's title and text: its distinct
    tokens, space-separated, in a stable order (the `'delete'` of an update must repeat them)."""
    found: set[str] = set()
    for text in texts:
        for run in _SEPARATORS.split(text):
            if run:
                found.update(map(str.__add__, run, run[1:]))
                found.add(run[-1])
    return " ".join(sorted(found))


def gram_match(term: str) -> str | None:
    """The `grams MATCH` expression finding `term` (one or two characters), or None when the
    index cannot answer it (a character the tokenizer splits at)."""
    if not 1 <= len(term) <= 2 or not all(_in_token(c) for c in term):
        return None
    quoted = '"' + term.replace('"', '""') + '"'  # no ASCII punctuation gets here; kept safe anyway
    return quoted if len(term) == 2 else quoted + "*"
