"""问卷星 (wjx.cn) exports: the text (按文本) and coded (按序号) variants, as CSV, XLS or XLSX.

Leading columns `序号, 提交答卷时间, 所用时间, 来源, 来源详情, 来自IP[, 总分]`, then `N、题目`
columns; the coded variant has one `N、(选项)` 0/1 column per multi-select option. The file name
`{活动id}_按文本_{标题}_{下载条数}_{有效条数}` gives the survey id and the variant.
"""

from __future__ import annotations

import re
from pathlib import Path

from crawlers.errors import ImportFileError
from crawlers.importers.base import Importer, ImportResult
from crawlers.importers.columns import OPTION_COLUMN, is_personal
from crawlers.importers.survey import Layout, import_table
from crawlers.importers.tables import Table, read_table

FILE_NAME = re.compile(r"^(\d+)_按(文本|序号)_")
FIELDS = ("所用时间", "来源", "总分")


class WjxImporter(Importer):
    platform = "wjx"

    def import_path(self, path: Path) -> ImportResult:
        table = read_table(path)
        layout = layout_for(table)
        name = FILE_NAME.match(Path(path).name)
        survey_id = self.survey_id or (name.group(1) if name else Path(path).stem)
        return import_table(self, table, layout, survey_id, variant=variant_of(table, name))


def layout_for(table: Table) -> Layout:
    header = table.header
    missing = [c for c in ("序号", "提交答卷时间") if c not in header]
    if missing:
        raise ImportFileError(f"{table.path}: not a 问卷星 export: no {', '.join(missing)} column "
                              f"(columns: {', '.join(header[:8])}…)")
    return Layout(
        time=header.index("提交答卷时间"),
        respondent=header.index("序号"),
        fields=[i for i, h in enumerate(header) if h in FIELDS],
        dropped=[i for i, h in enumerate(header) if is_personal(h)],
    )


def variant_of(table: Table, name: re.Match[str] | None) -> str:
    """`text` or `coded`: the file name says so; otherwise `N、(选项)` columns mean coded."""
    if name:
        return "text" if name.group(2) == "文本" else "coded"
    return "coded" if any(OPTION_COLUMN.match(h) for h in table.header) else "text"
