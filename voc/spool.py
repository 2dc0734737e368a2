"""The spool: batches the store could not take, kept on disk until `retry_spool` stores them.

`voc.pipeline` writes one JSONL file per failed batch into `var/spool/` (each line
`{"record": Feedback.to_dict(), "error": reason}`); `voc index --retry-spool` replays them. A file
is deleted only once every record in it is stored, so nothing is lost while the store is down.
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

from indexer.store import FeedbackStore, iter_batches
from voc.record import Feedback

log = logging.getLogger(__name__)

DEFAULT_SPOOL = Path("var/spool")
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


@dataclass
class SpoolReport:
    files: int = 0
    replayed: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "replayed": self.replayed, "remaining": self.remaining,
                "errors": list(self.errors)}


def retry_spool(store: FeedbackStore, spool_dir: str | Path = DEFAULT_SPOOL,
                batch_size: int = 500) -> SpoolReport:
    """Upsert every spooled record again. A file whose records all went in is deleted; records
    that still fail stay in the spool (rewritten with the new reason); unreadable lines are kept in
    a `.bad` file beside it, named in `errors`."""
    report = SpoolReport()
    for path in sorted(Path(spool_dir).glob("*.jsonl")):
        report.files += 1
        records, bad = _read_spool(path)
        if bad:
            bad_path = path.with_suffix(".bad")
            bad_path.write_text("".join(bad), encoding="utf-8")
            report.errors.append(f"{path}: {len(bad)} unreadable line(s) kept in {bad_path}")
        still: list[Feedback] = []
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
            still.extend(r for r in batch if r.id in failed)
            reasons.update(failed)
        if still:  # written before the old file goes, so a crash here loses nothing
            write_spool(Path(spool_dir), still, reasons)
            report.remaining += len(still)
            report.errors.append(f"{len(still)} record(s) still failing: {next(iter(reasons.values()))}")
        path.unlink()
    log.info("spool replay files=%d replayed=%d remaining=%d", report.files, report.replayed,
             report.remaining)
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
