"""Alert groups as store filters: what a group key such as `source=weibo,topic=信用卡` selects.

`GROUP_BY` and `SCOPE` are the rule options for grouping and scope, `scope_filters(options)` their
`Filters`. `group_filters(group)` turns a group mapping into `Filters` keyword arguments (so a rule
can ask the store for the group's records), and `in_group(record, group)` checks a record exactly,
because the store cannot express "(none)" or an exact topic without its sub-topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.rules.rule import GROUP_FILTER_FIELDS, Option, one_of
from core.record import Feedback
from indexer.store import NONE_KEY, Filters

GROUPABLE = ("source", "topic", "entity", "kind")

# The options every level rule shares: how to group, and which records it looks at at all.
GROUP_BY = {"group_by": Option(list, [], one_of(*GROUPABLE), "fields to group by; [] = overall")}
SCOPE = {
    "sources": Option(list, [], None, "only these sources ([] = all)"),
    "kinds": Option(list, [], None, "only these kinds ([] = all)"),
    "topics": Option(list, [], None, "only these topics and their sub-topics ([] = all)"),
}


def scope_filters(options: Mapping[str, Any], **extra: Any) -> Filters:
    """The `Filters` of a rule's scope options (SCOPE), with `extra` fields (sentiment, ...)."""
    return Filters(sources=tuple(options["sources"]), kinds=tuple(options["kinds"]),
                   topics=tuple(options["topics"]), **extra)
def group_filters(group: Mapping[str, str]) -> dict[str, Any]:
    """`Filters` keyword arguments narrowing to the group ("(none)" values cannot be expressed);
    each value is a one-value tuple (typed Any: they are keyword arguments of several fields)."""
    return {GROUP_FILTER_FIELDS[f]: (v,) for f, v in group.items()
            if v != NONE_KEY and f in GROUP_FILTER_FIELDS}


def in_group(record: Feedback, group: Mapping[str, str]) -> bool:
    """Whether `record` belongs to `group` exactly."""
    for f, value in group.items():
        if f == "source":
            ok = record.source == value
        elif f == "kind":
            ok = record.kind == value
        elif f == "topic":
            ok = not record.topics if value == NONE_KEY else value in record.topics
        elif f == "entity":  # by canonical name
            names = {e.get("canonical") or e.get("text") for e in record.entities}
            ok = not names if value == NONE_KEY else value in names
        else:
            ok = True  # not a record field (e.g. `term`): the caller selected the records already
        if not ok:
            return False
    return True
