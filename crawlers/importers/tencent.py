"""腾讯问卷 (wj.qq.com) CSV exports.

Leading columns `编号, 开始答题时间, 结束答题时间, 答题时长, 地理位置国家和地区, 地理位置省, 地理位置市,
自定义字段` (newer: `用户类型, 用户标识, 昵称, IP, UA, Referrer, …`), then `1.题目` columns and fill-in
sub-fields such as `3.你来自于：_填空3`. File name `{surveyId}_{yyyyMMddHHmmss}{4 digits}.csv`.
`结束答题时间` is the submit time; 用户标识 (when present) identifies the person behind the pseudonym.
Location, IP, UA, Referrer, 昵称 and the free-form 自定义字段 (channel tags can carry user ids) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from crawlers.errors import ImportFileError
from crawlers.importers.base import Importer, ImportResult
from crawlers.importers.columns import is_personal
from crawlers.importers.survey import Layout, import_table
from crawlers.importers.tables import Table, read_table

FILE_NAME = re.compile(r"^(\d+)_\d{14}\d{4}\.csv$", re.IGNORECASE)
FIELDS = ("开始答题时间", "答题时长", "用户类型")
DROPPED = ("自定义字段",)


class TencentImporter(Importer):
    platform = "tencent"

    def import_path(self, path: Path) -> ImportResult:
        table = read_table(path)
        name = FILE_NAME.match(Path(path).name)
        survey_id = self.survey_id or (name.group(1) if name else Path(path).stem)
        return import_table(self, table, layout_for(table), survey_id)


def layout_for(table: Table) -> Layout:
    header = table.header
    if "编号" not in header or not ({"结束答题时间", "开始答题时间"} & set(header)):
        raise ImportFileError(f"{table.path}: not a 腾讯问卷 export: needs 编号 and "
                              f"开始答题时间/结束答题时间 (columns: {', '.join(header[:8])}…)")
    time_column = "结束答题时间" if "结束答题时间" in header else "开始答题时间"
    return Layout(
        time=header.index(time_column),
        respondent=header.index("编号"),
        author=header.index("用户标识") if "用户标识" in header else None,
        fields=[i for i, h in enumerate(header) if h in FIELDS and h != time_column],
        dropped=[i for i, h in enumerate(header) if is_personal(h) or h in DROPPED],
    )
