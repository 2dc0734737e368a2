"""Near-duplicate clusters: a 64-bit SimHash per record and banded LSH over a sliding time window.

One angry post copied 200 times is one voice, not 200. `Deduper.assign(records)` gives every record
a `fingerprint` (16 hex digits) and, when it is a near-copy of a record seen within `window_hours`,
`duplicate_of` = the id of the first record of that cluster (a copy of a copy points at the
original). Counting APIs can then count clusters instead of raw records.

Fingerprint: SimHash over character 1-, 2- and 3-gram shingles of a *dedup key*: the normalized text
(`nlp.normalize`) with bracketed emoji codes (``[偷笑]``), pictographs, punctuation and spaces removed
and ASCII lower-cased, so copies that differ only in those collide exactly. Shingles are hashed in
numpy straight from code points (stable across processes, unlike ``hash()``), and a whole batch's
per-bit vote runs in numpy.

Matching: a record is a near-copy when its SimHash is within `threshold` bits of an earlier one's OR
the MinHash estimate (64 permutations of the same shingles) of their Jaccard similarity is at least
`jaccard`. Why both: comments are short (median ~30 characters), and one swapped character there
moves a 64-bit SimHash by ~10 bits, so SimHash at 3 bits alone finds about half of the edited copies
(bench/understanding.py measures it); MinHash with LSH banding (16 bands x 4 rows) finds them without
merging distinct comments. Unigrams are in the shingles because an adjacent-character swap in a
12-character comment changes 7 of its 21 bi/trigrams (Jaccard 0.5, a miss) but none of its
characters: with them the swap keeps Jaccard ~0.75, and short copies are found (recall 0.87 -> 0.96
at precision 1.0 on bench/understanding.py's constructed set). Candidates come from the MinHash
band buckets; fingerprints seeded without text (`seed` with tuples) are filed under
``threshold + 1`` SimHash bands, which by the pigeonhole principle find every fingerprint within
`threshold` bits. Every candidate is then checked exactly. Only the SimHash `fingerprint` is stored
on the record (fingerprints stored before unigrams were added differ: for one dedup window after
the upgrade, copies of older records are found by MinHash only when the records are seeded whole).

Texts whose key is shorter than `min_chars` get a fingerprint but never a `duplicate_of`: two people
writing "很好用" are not a copy wave. The same id seen again (a re-crawl) is never its own duplicate.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import numpy as np

from core.record import Feedback, as_utc
from nlp.normalize import normalize

_EMOJI_CODE = re.compile(r"\[[^\[\]\s]{1,8}\]")
# Keep CJK, kana, hangul, letters and digits; everything else is decoration for dedup purposes.
_NOT_CONTENT = re.compile(r"[^0-9a-z\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")
_CHUNK = 256


def dedup_key(normalized: str) -> str:
    """What the fingerprint is computed over (see the module docstring)."""
    if "[" in normalized:
        normalized = _EMOJI_CODE.sub("", normalized)
    return _NOT_CONTENT.sub("", normalized.lower())


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection on uint64 that spreads every input bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Signatures:
    """SimHash (64-bit int) and MinHash (`perms` x uint32) of character 2/3-gram shingles, plus
    single characters when `unigrams` (what `Deduper` uses).

    Shingles are hashed in numpy straight from code points: a 2- or 3-gram packs into 63 bits
    exactly (code points are < 2**21) and the splitmix64 finalizer scrambles it, so distinct
    shingles never collide and the result is the same in every process."""

    def __init__(self, perms: int = 64, seed: int = 0x5EED, unigrams: bool = False) -> None:
        self.unigrams = unigrams
        rng = np.random.default_rng(seed)
        # One permutation of the 32-bit space per MinHash row: h -> a*h + b mod 2**32 with odd a is
        # a bijection, and the shingle hashes are already well mixed; 32-bit lanes halve the work
        # and memory traffic of the (shingles x perms) product, the costliest step of dedup.
        self._mul = (rng.integers(0, 2**31, size=perms, dtype=np.uint32) * np.uint32(2) + np.uint32(1))
        self._add = rng.integers(0, 2**32, size=perms, dtype=np.uint32)
        self.perms = perms

    def _shingles(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(hash per shingle, owning key index per shingle), grouped by key in key order."""
        joined = "\x00".join(keys)  # dedup keys never contain NUL
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        n = len(cp)
        owner = np.cumsum(cp == 0)
        width = 3 if self.unigrams else 2
        grams = np.zeros((n, width), dtype=np.uint64)
        valid = np.zeros((n, width), dtype=bool)
        if n >= 2:
            a, b = cp[:-1], cp[1:]
            grams[:-1, 0] = (a << np.uint64(21)) | b | np.uint64(1 << 62)
            valid[:-1, 0] = (a != 0) & (b != 0)
        if n >= 3:
            a, b, c = cp[:-2], cp[1:-1], cp[2:]
            grams[:-2, 1] = (a << np.uint64(42)) | (b << np.uint64(21)) | c
            valid[:-2, 1] = (a != 0) & (b != 0) & (c != 0)
        if self.unigrams:
            grams[:, 2] = cp | np.uint64(3 << 61)
            valid[:, 2] = cp != 0
        # Row-major flattening keeps a position's shingles together, so keys stay in order.
        keep = valid.ravel()
        return _mix(grams.ravel()[keep]), np.repeat(owner, width)[keep]

    def compute(self, keys: Sequence[str], minhash: bool = True) -> tuple[list[int], np.ndarray]:
        """(SimHash per key, MinHash matrix len(keys) x perms); a key with no shingle (shorter
        than 2) gives SimHash 0 and a MinHash row of all 0xFFFFFFFF (empty when minhash=False)."""
        simhashes: list[int] = []
        rows = np.full((len(keys), self.perms if minhash else 0), 0xFFFFFFFF, dtype=np.uint32)
        for begin in range(0, len(keys), _CHUNK):
            chunk = keys[begin:begin + _CHUNK]
            hashes, owner = self._shingles(chunk)
            counts = np.bincount(owner, minlength=len(chunk))
            fps = np.zeros(len(chunk), dtype=np.uint64)
            if hashes.size:
                nonempty = np.flatnonzero(counts)
                starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[nonempty]
                bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
                votes = np.add.reduceat(bits, starts, axis=0, dtype=np.int32)
                majority = (2 * votes > counts[nonempty, None]).astype(np.uint8)
                fps[nonempty] = np.packbits(majority, axis=1, bitorder="little").view("<u8").ravel()
                if minhash:
                    permuted = (hashes >> np.uint64(32)).astype(np.uint32)[:, None] * self._mul + self._add
                    rows[begin + nonempty] = np.minimum.reduceat(permuted, starts, axis=0)
            simhashes.extend(fps.tolist())
        return simhashes, rows


class Deduper:
    """Assigns `fingerprint` and `duplicate_of` over a sliding window of recent records.

    A record is a near-copy of an earlier one when their SimHashes differ in at most `threshold`
    bits, or when the MinHash estimate of their shingle Jaccard similarity is at least `jaccard`."""

    def __init__(self, window_hours: float = 72, threshold: int = 3, *, jaccard: float = 0.6,
                 min_chars: int = 10, perms: int = 64, rows_per_band: int = 4) -> None:
        if window_hours <= 0:
            raise ValueError(f"window_hours must be > 0, got {window_hours}")
        if not 0 <= threshold < 32:
            raise ValueError(f"threshold must be in 0..31 bits, got {threshold}")
        if not 0 < jaccard <= 1:
            raise ValueError(f"jaccard must be in (0, 1], got {jaccard}")
        if perms % rows_per_band:
            raise ValueError(f"perms ({perms}) must be a multiple of rows_per_band ({rows_per_band})")
        self.window = timedelta(hours=window_hours)
        self._window_s = self.window.total_seconds()  # entries keep POSIX seconds: cheap to compare
        self.threshold, self.jaccard, self.min_chars = threshold, jaccard, min_chars
        self._signatures = Signatures(perms, unigrams=True)
        self._need_equal = int(np.ceil(jaccard * perms))
        nbands = threshold + 1
        edges = [round(i * 64 / nbands) for i in range(nbands + 1)]
        self._shifts = np.array(edges[:-1], dtype=np.uint64)
        self._masks = np.array([(1 << (hi - lo)) - 1 for lo, hi in zip(edges, edges[1:], strict=False)],
                               dtype=np.uint64)
        self._rows = rows_per_band
        # One dict for both kinds of band: SimHash band keys are small ints (band << 32 | bits),
        # MinHash band keys are mixed 64-bit values; a stray collision only costs one exact check.
        self._buckets: defaultdict[int, list[_Entry]] = defaultdict(list)
        self._by_id: dict[str, _Entry] = {}
        self._order: deque[_Entry] = deque()
        self._newest: float | None = None
        self._seq = 0
        self._fingerprint_only = 0  # live entries seeded from a bare fingerprint

    # -- public API ---------------------------------------------------------------------------
    def seed(self, items: Iterable[tuple | Feedback]) -> int:
        """Warm the window from stored records. Each item is ``(id, fingerprint_hex, created_at)``,
        optionally with a 4th ``duplicate_of``, or a whole `Feedback`. A tuple can only be matched by
        SimHash (near-exact copies); a record, whose text is at hand, by MinHash as well.
        Returns how many were added."""
        added = 0
        for item in items:
            if isinstance(item, Feedback):
                if item.id in self._by_id:
                    continue
                key = dedup_key(normalize(item.text))
                (fp,), rows = self._signatures.compute([key])
                entry = self._entry(item.id, fp, rows[0], item.created_at, len(key))
                entry.root = item.duplicate_of or item.id
            else:
                rid, fp_hex, created = item[0], item[1], item[2]
                if not fp_hex or rid in self._by_id:
                    continue
                fp = int(fp_hex, 16)
                entry = _Entry(rid, fp, as_utc(created).timestamp(), None,
                               self._sim_keys(np.array([fp], dtype=np.uint64))[0].tolist())
                self._fingerprint_only += 1
                entry.root = (item[3] if len(item) > 3 else None) or rid
            self._add(entry)
            added += 1
        self._expire()
        return added

    def assign(self, records: list[Feedback], texts: Sequence[str] | None = None) -> None:
        """Set `fingerprint` and `duplicate_of` on each record, in order (a record can be a copy of
        an earlier one in the same batch). `texts` may carry the already-normalized texts."""
        if texts is not None and len(texts) != len(records):
            raise ValueError(f"texts has {len(texts)} items for {len(records)} records")
        normalized = texts if texts is not None else [normalize(r.text) for r in records]
        keys = [dedup_key(t) for t in normalized]
        simhashes, rows = self._signatures.compute(keys)
        fps = np.array(simhashes, dtype=np.uint64)
        bucket_keys = self._minhash_keys(rows)
        sim_keys = self._sim_keys(fps).tolist() if self._fingerprint_only else None
        for n, record in enumerate(records):
            fp = simhashes[n]
            record.fingerprint = f"{fp:016x}"
            known = self._by_id.get(record.id)
            if known is not None:  # a re-crawl of a record we hold: keep its cluster, not itself
                record.duplicate_of = known.root if known.root != record.id else None
                continue
            entry = _Entry(record.id, fp, record.created_at.timestamp(), rows[n], bucket_keys[n])
            if len(keys[n]) < self.min_chars:
                entry.keys = []  # too short to match or be matched: "很好用" is not a copy wave
            else:
                match = self._match(entry, entry.keys + sim_keys[n] if sim_keys else entry.keys)
                if match is not None:
                    entry.root = match.root
            self._add(entry)
            record.duplicate_of = entry.root if entry.root != record.id else None
        self._expire()

    def fingerprint(self, text: str) -> str:
        """The fingerprint `assign` would give a record with this text."""
        return f"{self._signatures.compute([dedup_key(normalize(text))], minhash=False)[0][0]:016x}"

    def __len__(self) -> int:
        return len(self._by_id)

    # -- internals ----------------------------------------------------------------------------
    def _sim_keys(self, fps: np.ndarray) -> np.ndarray:
        bands = np.arange(len(self._shifts), dtype=np.uint64) << np.uint64(32)
        return ((fps[:, None] >> self._shifts) & self._masks) | bands

    def _minhash_keys(self, rows: np.ndarray) -> list[list[int]]:
        """A record's bucket keys: one per MinHash band. A record is filed under these only; a
        fingerprint seeded without text is filed under its SimHash bands, which new records also
        look up while such entries are live."""
        grouped = rows.astype(np.uint64).reshape(len(rows), -1, self._rows)
        mh = np.zeros(grouped.shape[:2], dtype=np.uint64)
        for r in range(self._rows):  # a wrapping polynomial mix of the band's values
            mh = mh * np.uint64(0x9E3779B97F4A7C15) + grouped[:, :, r]
        mh = _mix(mh ^ np.arange(mh.shape[1], dtype=np.uint64))  # same values, other band: new key
        return mh.tolist()

    def _entry(self, rid: str, fp: int, row: np.ndarray, created: datetime, key_len: int) -> _Entry:
        keys = self._minhash_keys(row[None, :])[0]
        return _Entry(rid, fp, created.timestamp(), row, keys if key_len >= self.min_chars else [])

    def _match(self, new: _Entry, keys: list[int]) -> _Entry | None:
        """The earliest-added entry in the window that is a near-copy of `new`."""
        found = [bucket for bucket in map(self._buckets.get, keys) if bucket]
        if not found:  # the common case: no band shared with anything in the window
            return None
        best, best_seq = None, self._seq + 1
        fp, row, created, window = new.fp, new.row, new.created, self._window_s
        threshold, need = self.threshold, self._need_equal
        checked: set[int] = set()  # an entry shares several bands with a near-copy: check it once
        for bucket in found:
            for entry in bucket:  # each bucket is in `seq` order (appended in order)
                seq = entry.seq
                if seq >= best_seq:
                    break  # nothing later in this bucket can beat the match we have
                if seq in checked:
                    continue
                checked.add(seq)
                if entry.dead or abs(entry.created - created) > window:
                    continue
                if (entry.fp ^ fp).bit_count() <= threshold or (
                        entry.row is not None and int(np.count_nonzero(entry.row == row)) >= need):
                    best, best_seq = entry, seq
                    break  # the earliest match of this bucket
        return best

    def _add(self, entry: _Entry) -> None:
        self._seq += 1
        entry.seq = self._seq
        self._by_id[entry.rid] = entry
        self._order.append(entry)
        buckets = self._buckets
        for key in entry.keys:
            buckets[key].append(entry)
        if self._newest is None or entry.created > self._newest:
            self._newest = entry.created

    def _expire(self) -> None:
        """Drop entries older than the window, measured from the newest time seen; records arrive
        roughly in time order, so popping from the left of the queue is enough (the time check
        in `_match` covers stragglers). Buckets are trimmed from the front, where the oldest
        entries are, so dropping an entry is not a search through its bucket."""
        if self._newest is None:
            return
        horizon = self._newest - self._window_s
        order, buckets = self._order, self._buckets
        while order and order[0].created < horizon:
            entry = order.popleft()
            entry.dead = True
            if self._by_id.get(entry.rid) is entry:
                del self._by_id[entry.rid]
            if entry.row is None:
                self._fingerprint_only -= 1
            # Entries die in `seq` order, so a bucket's dead entries are a prefix of it.
            for key in entry.keys:
                bucket = buckets.get(key)
                if bucket is None:
                    continue
                if bucket[-1].dead:
                    del buckets[key]
                    continue
                cut = 0  # the last entry is live, so this stops
                while bucket[cut].dead:
                    cut += 1
                del bucket[:cut]


class _Entry:
    __slots__ = ("rid", "fp", "created", "root", "row", "keys", "seq", "dead")

    def __init__(self, rid: str, fp: int, created: float, row: np.ndarray | None,
                 keys: list[int]) -> None:
        self.rid, self.fp, self.created, self.root = rid, fp, created, rid
        self.row, self.keys, self.seq, self.dead = row, keys, 0, False
