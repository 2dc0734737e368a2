"""Turn a survey table into `Feedback` records: one per non-empty open-text answer.

Platform importers (wjx, tencent, csv) only say which columns hold the respondent id, the submit
time and harmless per-response fields (`Layout`); this module does the rest the same way for all:
column classification (or the `--map` override), pseudonyms, stable ids, per-row errors.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import response
from core.record import Feedback, make_id
from crawlers.errors import ImportFileError, RowError
from crawlers.importers.base import Importer, ImportResult, find_column, parse_survey_time, question_title
from crawlers.importers.columns import (
    SKIPPED,
    ColumnPlan,
    answer_text,
    parse_rating,
    plan_columns,
    split_choice,
)
from crawlers.importers.tables import Table

log = logging.getLogger(__name__)
# segment columns a --map may name (branch=网点名称, city=所在城市, ...): meta["segments"], `voc csat`
SEGMENT_KEYS = response.SEGMENT_KEYS
MAP_KEYS = {"text", "rating", "created_at", "respondent", *SEGMENT_KEYS}


@dataclass
class Layout:
    """Fixed columns of a platform's export. `author` is a second id used only for the
    pseudonym (腾讯问卷 用户标识); `fields` are kept in meta; `dropped` never leave the file."""

    time: int
    respondent: int | None = None
    author: int | None = None
    fields: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def import_table(importer: Importer, table: Table, layout: Layout, survey_id: str,
                 variant: str | None = None) -> ImportResult:
    header = table.header
    _apply_map(importer, table, layout)
    result = ImportResult(platform=importer.platform, survey_id=survey_id, encoding=table.encoding)
    fixed = {layout.time, layout.respondent, layout.author, *layout.fields, *layout.dropped} - {None}
    questions = [i for i in range(len(header)) if i not in fixed]
    rows = _well_formed(table, result)
    plan = _plan(importer, table, questions, rows)
    result.text_columns = [header[i] for i in plan.text]
    result.personal_columns = {header[i]: plan.why_dropped.get(i, "title")
                               for i in sorted({*layout.dropped, *plan.dropped})}
    if not plan.text:
        result.message = "no open-text questions found (use --map text=COLUMN to name them)"
    segment_columns = {key: find_column(header, importer.mapping[key][0], table.path)
                       for key in SEGMENT_KEYS if key in importer.mapping}
    overall = header[plan.rating] if plan.rating is not None else ""  # the rating question
    scale = list(response.scale_of(overall, [v for v in (parse_rating(cells[plan.rating])
                                                          for _, cells in rows) if v is not None]
                                   if plan.rating is not None else []))
    seen: dict[str, int] = {}
    for line, cells in rows:
        try:
            created_at = parse_survey_time(cells[layout.time])
        except ValueError as exc:
            result.errors.append(RowError(line, f"{header[layout.time]}: {exc}"))
            continue
        respondent = cells[layout.respondent] if layout.respondent is not None else ""
        if layout.respondent is not None and not respondent:
            result.errors.append(RowError(line, f"{header[layout.respondent]} is empty"))
            continue
        if layout.respondent is not None and respondent in seen:
            result.errors.append(RowError(
                line, f"{header[layout.respondent]} {respondent} repeats line {seen[respondent]}"))
            continue
        if respondent:
            seen[respondent] = line
        who = (cells[layout.author] if layout.author is not None else "") or respondent
        base = {
            "created_at": created_at,
            "author": importer.pseudonym(survey_id, who) if who else None,
            "rating": parse_rating(cells[plan.rating]) if plan.rating is not None else None,
        }
        meta = _row_meta(header, cells, layout, plan, survey_id, line, variant)
        segments = response.segments_of(meta["choices"], {
            key: cells[index].strip() for key, index in segment_columns.items()
            if cells[index].strip() not in SKIPPED})
        if "branch" in segments and importer.branch_name is not None:
            segments["branch"] = importer.branch_name(segments["branch"])
        if segments:
            meta["segments"] = segments
        rating = base["rating"]
        if isinstance(rating, float):
            pseudonym = importer.pseudonym(survey_id, respondent) if respondent else None
            meta.update({"response": response.response_key(importer.source, survey_id, pseudonym, line),
                         "respondent": pseudonym, "scale": scale, "rating_question": overall,
                         "ratings": _ratings(meta["choices"], overall, rating)})
            result.responses.append(response.check({
                "key": meta["response"], "source": importer.source, "survey_id": survey_id,
                "line": line, "respondent": pseudonym, "created_at": created_at,
                "rating": rating, "scale": scale, "question": overall,
                "segments": segments, "ratings": meta["ratings"],
                "choices": copy.deepcopy(meta["choices"])}))
        texts = [(header[i], cells[i]) for i in plan.text]
        texts += _write_ins(header, cells, plan)
        for question, raw in texts:
            text = answer_text(raw)
            if text is None:
                if raw.strip() not in SKIPPED:
                    result.skipped_answers += 1
                continue
            native = f"{survey_id}:{respondent}:{question}" if respondent else None
            result.records.append(_record(importer.source, native, question, text, base, meta))
    log.info("source=%s survey=%s rows=%d records=%d errors=%d", importer.source, survey_id,
             result.rows_read, len(result.records), len(result.errors))
    return result


def _apply_map(importer: Importer, table: Table, layout: Layout) -> None:
    """`--map created_at=… / respondent=…` override the platform's fixed columns."""
    if "created_at" in importer.mapping:
        layout.time = find_column(table.header, importer.mapping["created_at"][0], table.path)
    if "respondent" in importer.mapping:
        layout.respondent = find_column(table.header, importer.mapping["respondent"][0], table.path)


def _well_formed(table: Table, result: ImportResult) -> list[tuple[int, list[str]]]:
    """Rows with exactly one cell per column; others become RowErrors. Spreadsheet rows are
    padded or trimmed (Excel stores no empty trailing cells), CSV rows must match the header."""
    width = len(table.header)
    good = []
    bad_lines = set(table.bad_lines)
    for row in table.rows:
        result.rows_read += 1
        broken = bad_lines.intersection(range(row.line, max(row.line, row.last) + 1))
        if broken:
            result.errors.append(RowError(row.line, f"bytes that are not {table.encoding} on line "
                                                    f"{min(broken)}; the row is left out"))
            continue
        cells = list(row.cells)
        while len(cells) > width and not cells[-1]:
            cells.pop()
        if len(cells) < width and table.fmt != "csv":
            cells += [""] * (width - len(cells))
        if len(cells) != width:
            result.errors.append(RowError(row.line, f"expected {width} columns, found {len(cells)}"))
            continue
        good.append((row.line, cells))
    return good


def _plan(importer: Importer, table: Table, questions: list[int], rows: list) -> ColumnPlan:
    columns = {i: [cells[i] for _, cells in rows] for i in questions}
    plan = plan_columns(table.header, columns)
    mapping = importer.mapping
    unknown = set(mapping) - MAP_KEYS
    if unknown:
        raise ImportFileError(f"--map: unknown field(s) {sorted(unknown)}; use {sorted(MAP_KEYS)}")
    if "text" in mapping:  # the user knows better than the heuristics
        plan.text = [find_column(table.header, name, table.path) for name in mapping["text"]]
        plan.choices = [i for i in questions if i not in plan.text and i not in plan.options
                        and i not in plan.dropped]
    if "rating" in mapping:
        plan.rating = find_column(table.header, mapping["rating"][0], table.path)
        plan.text = [i for i in plan.text if i != plan.rating]
        if plan.rating not in plan.choices:
            plan.choices.append(plan.rating)
    return plan


def _row_meta(header: list[str], cells: list[str], layout: Layout, plan: ColumnPlan, survey_id: str,
              line: int, variant: str | None) -> dict[str, Any]:
    choices: dict[str, Any] = {}
    for i in plan.choices:
        if cells[i] not in SKIPPED:
            choices[header[i]] = split_choice(cells[i])[0]
    for i, (number, label) in plan.options.items():
        if cells[i] == "1":
            choices.setdefault(number, []).append(label)
    meta: dict[str, Any] = {"survey_id": survey_id, "line": line, "choices": choices}
    fields = {header[i]: cells[i] for i in layout.fields if cells[i] not in SKIPPED}
    if fields:
        meta["fields"] = fields
    if variant:
        meta["variant"] = variant
    return meta


def _ratings(choices: dict[str, Any], question: str, overall: float) -> dict[str, float]:
    """Every rating question the response answered, by its question (the overall one first)."""
    out = {question: overall} if question else {}
    for title, answer in choices.items():
        if isinstance(answer, str) and title not in out and response.RATING_WORDING.search(title):
            value = parse_rating(answer)
            if value is not None:
                out[title] = value
    return out


def _write_ins(header: list[str], cells: list[str], plan: ColumnPlan) -> list[tuple[str, str]]:
    out = []
    for i in plan.choices:
        for n, text in enumerate(split_choice(cells[i])[1]):
            out.append((f"{header[i]}〖其他〗" + (f"#{n + 1}" if n else ""), text))
    return out


def _record(source: str, native: str | None, question: str, text: str, base: dict[str, Any],
            meta: dict[str, Any]) -> Feedback:
    created_at: datetime = base["created_at"]
    if native:
        record_id = make_id(source, native_id=native)
    else:  # generic tables without a respondent column
        record_id = make_id(source, created_at=created_at, text=f"{question}\x1f{text}")
    return Feedback(id=record_id, source=source, kind="survey", text=text, created_at=created_at,
                    author=base["author"], title=question_title(question) or None, rating=base["rating"],
                    meta={**copy.deepcopy(meta), "question": question})
