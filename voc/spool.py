"""The spool: batches the store could not take, kept on disk until `retry_spool` stores them.

`voc.pipeline` writes one JSONL file per failed batch into `var/spool/` (each line
`{"record": Feedback.to_dict(), "error": reason}`); `voc index --retry-spool` replays them. A file
is deleted only once every record in it is stored, so nothing is lost while the store is down.

A record the store refuses for good (`UpsertResult.refused`: a value it cannot map, a time out of
its range) would fail on every replay and keep `--retry-spool` failing for ever. It goes to the
dead letter folder `var/spool/dead/` instead, in the same line format with the store's reason,
where `--retry-spool` counts and names it on every run: it is kept for a person to look at, never
dropped, and never retried by itself.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.record import Feedback
from indexer.store import FeedbackStore, iter_batches

log = logging.getLogger(__name__)

DEFAULT_SPOOL = Path("var/spool")
DEAD = "dead"  # the dead letter folder, inside the spool folder
_SEQ = itertools.count()  # two spool files in the same microsecond still differ


def write_spool(spool_dir: Path, records: Sequence[Feedback], reasons: dict[str, str]) -> Path:
    """One JSONL file per failed batch: {"record": Feedback.to_dict(), "error": reason} a line.
    Written to a temporary name and renamed, so a replay never reads half a file."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = spool_dir / f"{stamp}-{os.getpid()}-{next(_SEQ)}.jsonl"
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            line = {"record": record.to_dict(), "error": reasons.get(record.id, "")}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    tmp.replace(path)
    log.warning("pipeline spooled records=%d file=%s", len(records), path)
    return path


def write_dead_letter(spool_dir: Path, records: Sequence[Feedback], reasons: dict[str, str]) -> Path:
    """Records the store refuses for good, kept in `spool_dir/dead/` with the store's reason."""
    path = write_spool(spool_dir / DEAD, records, reasons)
    log.error("spool dead letter records=%d file=%s reason=%s", len(records), path,
              next(iter(reasons.values()), ""))
    return path


def dead_letter_count(spool_dir: Path) -> tuple[int, list[str]]:
    """Records in the dead letter folder, and its files."""
    files = sorted(str(p) for p in (spool_dir / DEAD).glob("*.jsonl"))
    count = 0
    for name in files:
        with open(name, encoding="utf-8") as fh:
            count += sum(1 for line in fh if line.strip())
    return count, files


@dataclass
class SpoolReport:
    """`dead` counts the records this replay moved to the dead letter folder; `dead_total` and
    `dead_files` describe the whole folder, earlier runs included."""

    files: int = 0
    replayed: int = 0
    remaining: int = 0
    dead: int = 0
    dead_total: int = 0
    dead_files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "replayed": self.replayed, "remaining": self.remaining,
                "dead": self.dead, "dead_total": self.dead_total, "dead_files": list(self.dead_files),
                "errors": list(self.errors)}


def retry_spool(store: FeedbackStore, spool_dir: str | Path = DEFAULT_SPOOL,
                batch_size: int = 500) -> SpoolReport:
    """Upsert every spooled record again. A file whose records all went in is deleted; records
    that still fail stay in the spool (rewritten with the new reason); unreadable lines are kept in
    a `.bad` file beside it, named in `errors`; records the store refuses for good go to the dead
    letter folder."""
    report = SpoolReport()
    spool_dir = Path(spool_dir)
    for path in sorted(spool_dir.glob("*.jsonl")):
        report.files += 1
        records, bad = _read_spool(path)
        if bad:
            bad_path = path.with_suffix(".bad")
            bad_path.write_text("".join(bad), encoding="utf-8")
            report.errors.append(f"{path}: {len(bad)} unreadable line(s) kept in {bad_path}")
        still: list[Feedback] = []
        dead: list[Feedback] = []
        reasons: dict[str, str] = {}
        for batch in iter_batches(records, batch_size):
            try:
                result = store.upsert(batch)
            except Exception as exc:  # the store is still down: keep the rest for next time
                reason = f"{type(exc).__name__}: {exc}"
                still.extend(batch)
                reasons.update(dict.fromkeys((r.id for r in batch), reason))
                continue
            report.replayed += result.stored
            failed = dict(result.failed)
            dead.extend(r for r in batch if r.id in failed and r.id in result.refused)
            still.extend(r for r in batch if r.id in failed and r.id not in result.refused)
            reasons.update(failed)
        # both written before the old file goes, so a crash here loses nothing
        if dead:
            write_dead_letter(spool_dir, dead, reasons)
            report.dead += len(dead)
        if still:
            write_spool(spool_dir, still, reasons)
            report.remaining += len(still)
            report.errors.append(f"{len(still)} record(s) still failing: {reasons[still[0].id]}")
        path.unlink()
    report.dead_total, report.dead_files = dead_letter_count(spool_dir)
    log.info("spool replay files=%d replayed=%d remaining=%d dead=%d", report.files, report.replayed,
             report.remaining, report.dead)
    return report


def _read_spool(path: Path) -> tuple[list[Feedback], list[str]]:
    records: list[Feedback] = []
    bad: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                records.append(Feedback.from_dict(json.loads(line)["record"]))
            except (ValueError, KeyError, TypeError) as exc:
                bad.append(line if line.endswith("\n") else line + "\n")
                log.error("spool unreadable file=%s reason=%s", path, exc)
    return records, bad
