"""What spiders yield: `core.record.Feedback` itself, not a Scrapy `Item`.

Scrapy takes dataclass instances as items (itemadapter), so a spider builds the record the rest
of the system uses and crawlers/pipelines.py hands it to voc.pipeline unchanged; there is no
second schema to keep in step. Ids come from `make_id(source, native_id=...)` (see base.py).
"""

from __future__ import annotations

from core.record import Feedback, make_id

__all__ = ["Feedback", "make_id"]
