"""State namespaces that have an index of their own on Elasticsearch, beside `<prefix>-state`.

Most state documents are small and few (cursors, silences, the send journal) and share
`<prefix>-state`. Cases (工单, namespace "case", `care.cases`) are business records that grow
without end and that a bank searches and keeps by its own retention rules, so they live in
`<prefix>-cases`, with the same mapping (`indexer/mappings/state.json`: namespace, key,
updated_at, the value kept whole). `voc es setup` creates these indices; the store's
get/put/delete/list_state pick the index by namespace (`state_index`). SQLite keeps every
namespace in its one `state` table.
"""

from __future__ import annotations

from collections.abc import Mapping

OWN_INDEX = {"case": "cases"}  # namespace -> index suffix


def state_index_names(prefix: str) -> dict[str, str]:
    """`state:<namespace>` -> `<prefix>-<suffix>`, merged into `_es_setup.names`."""
    return {f"state:{namespace}": f"{prefix}-{suffix}" for namespace, suffix in OWN_INDEX.items()}


def state_index(names: Mapping[str, str], namespace: str) -> str:
    """The index that holds `namespace`'s state documents."""
    return names.get(f"state:{namespace}", names["state"])
