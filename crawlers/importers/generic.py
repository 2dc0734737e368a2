"""Any CSV/XLSX/XLS table of survey answers, with a column mapping.

`--map text=意见建议,rating=满意度[,created_at=提交时间][,respondent=编号]` (several text columns:
`text=甲|乙`). Without `created_at`, a column named like a submit time is used; without
`respondent`, a column named 序号/编号/ID. Without a respondent, ids come from time + text.
"""

from __future__ import annotations

from pathlib import Path

from crawlers.errors import ImportFileError
from crawlers.importers.base import Importer, ImportResult
from crawlers.importers.columns import is_personal
from crawlers.importers.survey import Layout, import_table
from crawlers.importers.tables import read_table

TIME_NAMES = (
    "提交答卷时间", "提交时间", "结束答题时间", "填写时间", "时间", "日期", "created_at", "date", "time",
)
RESPONDENT_NAMES = ("序号", "编号", "答卷编号", "id", "ID", "respondent")


class GenericImporter(Importer):
    platform = "csv"

    def import_path(self, path: Path) -> ImportResult:
        if "text" not in self.mapping:
            raise ImportFileError(f"{path}: a generic table needs --map text=COLUMN (e.g. text=意见建议)")
        table = read_table(path)
        header = table.header
        time_index = _first(header, TIME_NAMES)
        if time_index is None and "created_at" not in self.mapping:
            raise ImportFileError(f"{path}: no time column found; add created_at=COLUMN to --map "
                                  f"(columns: {', '.join(header)})")
        layout = Layout(
            time=time_index if time_index is not None else -1,  # -1 is replaced by the mapping
            respondent=_first(header, RESPONDENT_NAMES),
            dropped=[i for i, h in enumerate(header) if is_personal(h)],
        )
        return import_table(self, table, layout, self.survey_id or Path(path).stem)


def _first(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None
