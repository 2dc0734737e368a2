"""Survey-export importers: 问卷星, 腾讯问卷, generic CSV/XLSX with a column map, and JSONL records.

Use `import_file(path, platform=None, source=None, mapping=None, survey_id=None, salt=...)`; it
detects the platform when none is given and returns an `ImportResult` (records, per-line errors,
platform, survey_id, rows_read). A file that cannot be imported at all (missing, empty, binary,
not a survey export) raises `crawlers.errors.ImportFileError` with a message naming the file.

Decisions: an empty file (no bytes, only blank lines, or no header) is an error ("… is empty");
a header with no responses is not: it imports zero records and says so in `ImportResult.message`.
Survey respondents get salted pseudonyms, so survey platforms need `salt` (VOC_PSEUDONYM_SALT);
IP, location and contact columns are dropped and never appear in a record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from crawlers.errors import ImportFileError
from crawlers.importers.base import Importer, ImportResult, parse_mapping
from crawlers.importers.detect import detect_platform
from crawlers.importers.generic import GenericImporter
from crawlers.importers.records import RecordsImporter
from crawlers.importers.tencent import TencentImporter
from crawlers.importers.wjx import WjxImporter

IMPORTERS: dict[str, type[Importer]] = {
    "wjx": WjxImporter,
    "tencent": TencentImporter,
    "csv": GenericImporter,
    "records": RecordsImporter,
}

__all__ = ["IMPORTERS", "ImportResult", "Importer", "detect_platform", "import_file", "parse_mapping"]


def import_file(path: str | Path, platform: str | None = None, source: str | None = None,
                mapping: Mapping[str, Sequence[str] | str] | str | None = None,
                survey_id: str | None = None, salt: str | bytes | None = None,
                branch_name: Callable[[str], str] | None = None) -> ImportResult:
    """Import one export file. `mapping` is a dict or a `--map` string; with a mapping and no
    recognisable platform the file is read as a generic table. `branch_name` turns a branch
    answer into the taxonomy's branch entity (`voc.pipeline.branch_namer`)."""
    path = Path(path)
    if isinstance(mapping, str):
        mapping = parse_mapping(mapping)
    if platform is None:
        try:
            platform = detect_platform(path)
        except ImportFileError:
            if not mapping:
                raise
            platform = "csv"
    if platform not in IMPORTERS:
        raise ImportFileError(f"unknown platform {platform!r}; choose from {', '.join(IMPORTERS)}")
    importer = IMPORTERS[platform](source=source, mapping=mapping, survey_id=survey_id, salt=salt,
                                   branch_name=branch_name)
    return importer.import_path(path)
