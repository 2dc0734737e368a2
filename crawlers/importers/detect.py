"""Tell which platform exported a file: by its name first, then by its header.

Names: `{id}_按文本_…` / `{id}_按序号_…` (问卷星), `{surveyId}_{yyyyMMddHHmmss}{4 digits}.csv`
(腾讯问卷), `*.jsonl` / `*.ndjson` (records). Headers: `序号, 提交答卷时间` (问卷星),
`编号, 开始答题时间` (腾讯问卷). Anything else is not recognised: the caller must say `--platform`.
"""

from __future__ import annotations

from pathlib import Path

from crawlers.errors import ImportFileError
from crawlers.importers import tencent, wjx
from crawlers.importers.tables import read_table


def detect_platform(path: str | Path) -> str:
    """`wjx`, `tencent` or `records`; raises ImportFileError when the file is not a known export."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "records"
    if wjx.FILE_NAME.match(path.name):
        return "wjx"
    if tencent.FILE_NAME.match(path.name):
        return "tencent"
    header = read_table(path).header
    if "序号" in header and "提交答卷时间" in header:
        return "wjx"
    if "编号" in header and "开始答题时间" in header:
        return "tencent"
    shown = ", ".join(header[:8]) + ("…" if len(header) > 8 else "")
    raise ImportFileError(
        f"{path}: not a recognised survey export (columns: {shown}); expected 问卷星 "
        f"(序号, 提交答卷时间) or 腾讯问卷 (编号, 开始答题时间) — or pass --platform csv --map text=COLUMN")
