"""Decide what each survey column is: open text, rating, choice, multi-select option, or dropped.

Text export (按文本): a column is open text when its answers look like free text (many distinct,
longer strings) rather than repeated option labels; `┋` marks a multi-select; `其他〖…〗` write-ins
inside choice answers are text too. Coded export (按序号): integer-coded columns and `N、(选项)`
0/1 columns are choices. Personal data columns are dropped: they must never reach the index, not
even inside `meta`. A column is personal by its title (IP, 地理位置, 手机号, 姓名, 称呼, 客户号,
所在城市, …) or by what it holds: half its answers a phone, ID, bank-card, e-mail or customer
number, or most of them a person's name (`nlp.mask.personal_kind`), whatever the title says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from crawlers.importers.base import question_title
from nlp.mask import personal_kind

SKIPPED = {"(跳过)", "(空)", "（跳过）", "（空）", "-2", "-3", "", "N/A", "n/a"}
# Answers that fill an open question without saying anything; importing them would only
# pad the neutral share of the sentiment split.
NULL_ANSWERS = {"无", "没有", "暂无", "无建议", "没有建议", "暂无建议", "无意见", "没有意见", "不知道",
                "没什么", "没", "否", "无。", "没有。", "/", "-", "--", "。", ".", "na", "none", "null"}
MULTI_SEP = "┋"
WRITE_IN = re.compile(r"〖(.*?)〗", re.S)
OPTION_COLUMN = re.compile(r"^\s*(\d+)\s*[、.]\s*[(（](.+)[)）]\s*$")
PERSONAL = re.compile(
    r"(^|来自|用户)IP$|^IP|地理位置|来源详情|^UA$|Referrer|昵称|手机号|电话|联系方式|姓名|名字|邮箱|e-?mail"
    r"|身份证|证件|微信号|QQ|卡号|账号|住址|地址|联系手机|^手机$|称呼|联系人|^name$|full.?name|用户名"
    r"|客户号|客户编号|会员号|所在城市|^城市$|省份|所在地区|籍贯|出生日期|生日",
    re.IGNORECASE,
)
RATING_TITLE = re.compile(r"满意|评分|打分|分数|星级|NPS|推荐.*可能|推荐.*意愿", re.IGNORECASE)
TEXT_HINT = re.compile(
    r"建议|意见|原因|为什么|说明|描述|补充|想法|问题|评价|反馈|留言|其他|看法|感受|吐槽|改进"
)
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?\s*(分|星)?$")
_LETTERS = re.compile(r"[A-Za-z\u3400-\u9fff]")
# wording scales, read on 1-5: 非常满意 … 非常不满意, and the willingness scale 非常愿意 … 非常不愿意
RATING_LABELS = {"非常满意": 5.0, "很满意": 5.0, "满意": 4.0, "比较满意": 4.0, "一般": 3.0,
                 "不太满意": 2.0, "比较不满意": 2.0, "不满意": 2.0, "很不满意": 1.0, "非常不满意": 1.0,
                 "非常愿意": 5.0, "很愿意": 5.0, "愿意": 4.0, "比较愿意": 4.0, "不太愿意": 2.0,
                 "比较不愿意": 2.0, "不愿意": 2.0, "很不愿意": 1.0, "非常不愿意": 1.0}


@dataclass
class ColumnPlan:
    """Column indices by role. `options` maps an `N、(选项)` column to (question number, label)."""

    text: list[int] = field(default_factory=list)
    rating: int | None = None
    choices: list[int] = field(default_factory=list)
    options: dict[int, tuple[str, str]] = field(default_factory=dict)
    dropped: list[int] = field(default_factory=list)
    why_dropped: dict[int, str] = field(default_factory=dict)  # column index -> "title" or a kind


def is_personal(header: str) -> bool:
    return bool(PERSONAL.search(header.strip()))


def personal_content(answers: Sequence[str]) -> str | None:
    """The kind of personal datum a column holds ("phone", "id", "card", "email", "code", "name"),
    judged by its answers, or None. Numbers count when half the answers are one; names need 60 %
    (a choice column of branch names must not look like people)."""
    answers = [a.strip() for a in answers if a.strip() not in SKIPPED]
    if not answers:
        return None
    kinds = [personal_kind(a) for a in answers]
    numbers = [k for k in kinds if k and k != "name"]
    if len(numbers) >= 0.5 * len(answers):
        return max(set(numbers), key=numbers.count)
    if kinds.count("name") >= 0.6 * len(answers):
        return "name"
    return None


def answer_text(value: str) -> str | None:
    """The feedback in one open answer, or None when it says nothing."""
    value = value.strip()
    if value in SKIPPED or value.lower() in NULL_ANSWERS or not _LETTERS.search(value):
        return None
    return value


def parse_rating(value: str) -> float | None:
    value = value.strip()
    if value in SKIPPED:
        return None
    if _NUMBER.match(value):
        return float(re.sub(r"[^\d.+-]", "", value))
    return RATING_LABELS.get(value)


def plan_columns(header: Sequence[str], columns: dict[int, list[str]]) -> ColumnPlan:
    """Classify question columns; `columns` maps a column index to its answers (all rows)."""
    plan = ColumnPlan()
    for index, values in columns.items():
        name = header[index]
        why = "title" if is_personal(name) else personal_content(values)
        if why:
            plan.dropped.append(index)
            plan.why_dropped[index] = why
            continue
        option = OPTION_COLUMN.match(name)
        if option:
            plan.options[index] = (option.group(1), option.group(2).strip())
            continue
        answers = [v.strip() for v in values if v.strip() not in SKIPPED]
        if plan.rating is None and _is_rating(name, answers):
            plan.rating = index
            plan.choices.append(index)
        elif _is_open_text(name, answers):
            plan.text.append(index)
        else:
            plan.choices.append(index)
    return plan


def _is_rating(name: str, answers: list[str]) -> bool:
    if not RATING_TITLE.search(question_title(name)) or not answers:
        return False
    return sum(parse_rating(a) is not None for a in answers) >= 0.8 * len(answers)


def _is_open_text(name: str, answers: list[str]) -> bool:
    if not answers:
        return False
    if all(_NUMBER.match(a) for a in answers):
        return False  # option codes, scores, counts
    if any(MULTI_SEP in a for a in answers):
        return False  # a multi-select of labels; its write-ins are handled separately
    n = len(answers)
    distinct = len(set(answers)) / n
    mean_len = sum(len(a) for a in answers) / n
    hint = bool(TEXT_HINT.search(question_title(name)))
    if n < 5:  # too few answers to judge by repetition
        return hint or mean_len >= 10
    return mean_len >= 12 or (distinct >= 0.6 and mean_len >= 4) or (hint and distinct >= 0.5)


def split_choice(value: str) -> tuple[str | list[str], list[str]]:
    """A choice answer without its write-ins, and the write-in texts: `A┋其他〖夜间营业〗` ->
    (["A", "其他"], ["夜间营业"])."""
    write_ins = [w.strip() for w in WRITE_IN.findall(value) if w.strip()]
    clean = WRITE_IN.sub("", value)
    if MULTI_SEP in clean:
        return [p.strip() for p in clean.split(MULTI_SEP) if p.strip()], write_ins
    return clean.strip(), write_ins
