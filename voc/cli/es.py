"""`voc es setup` and `voc kibana import`: prepare Elasticsearch and Kibana (safe on every start).

    voc es setup                 # index template, alias, monthly/alerts/state indices (idempotent)
    voc es setup --replicas 0    # a single-node cluster (docker compose)
    voc kibana import            # data view + dashboard from indexer/kibana/ (overwrites)

Both read `[elasticsearch]` and `[kibana]` from settings; credentials only from VOC_ES_API_KEY or
VOC_ES_PASSWORD. `--wait SECONDS` retries while the cluster or Kibana is still starting.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from voc.cli.common import UsageError, lazy, print_json, settings


def register(sub: Any) -> None:
    """Add the `es` and `kibana` commands to the `voc` subparsers."""

    p = sub.add_parser("es", help="Elasticsearch set-up", description="Elasticsearch set-up.")
    esub = p.add_subparsers(dest="es_command", required=True, metavar="ACTION")
    sp = esub.add_parser("setup", help="create the index template, alias and indices (idempotent)",
                         description="Create or update the index template <prefix>-feedback, the "
                                     "current monthly index behind the alias, and the alerts and state "
                                     "indices. Chinese analysis: ik or smartcn when the plugin is "
                                     "installed, else cjk.")
    sp.add_argument("--analyzer", choices=["cjk", "ik", "smartcn"], help="override plugin detection")
    sp.add_argument("--replicas", type=int, help="number_of_replicas (0 on a single node)")
    sp.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                    help="keep trying this long while the cluster is unreachable (default 0)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    sp.set_defaults(handler=lazy("voc.cli.es", "cmd_es_setup"))

    p = sub.add_parser("kibana", help="Kibana saved objects", description="Kibana saved objects.")
    ksub = p.add_subparsers(dest="kibana_command", required=True, metavar="ACTION")
    kp = ksub.add_parser("import", help="import the data view and dashboard (overwrites)",
                         description="Load indexer/kibana/*.ndjson through Kibana's saved objects API.")
    kp.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                    help="keep trying this long while Kibana is unreachable (default 0)")
    kp.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    kp.set_defaults(handler=lazy("voc.cli.es", "cmd_kibana_import"))


def _retrying(wait: float, fn: Callable[[], Any]) -> Any:
    """Call fn, retrying StoreUnavailable every 5 s until `wait` seconds have passed."""
    from indexer.errors import StoreUnavailable

    deadline = time.monotonic() + wait
    while True:
        try:
            return fn()
        except StoreUnavailable as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"waiting: {exc}", file=sys.stderr)
            time.sleep(5)


def cmd_es_setup(args: argparse.Namespace) -> int:
    from indexer.elastic import ElasticStore

    conf = settings()
    es = conf.elasticsearch
    store = ElasticStore(list(es.hosts), ca_certs=es.ca_certs, index_prefix=es.index_prefix,
                         username=es.username, api_key=conf.secrets.value("es_api_key"),
                         password=conf.secrets.value("es_password"))
    try:
        report = _retrying(args.wait, lambda: store.setup(analyzer=args.analyzer, replicas=args.replicas))
    finally:
        store.close()
    if args.json:
        print_json(report)
    else:
        print(f"template {report['template']} (analyzer {report['analyzer']}), alias {report['alias']}; "
              f"indices {', '.join(report['indices'])}; created: {', '.join(report['created']) or 'none'}")
    return 0


def cmd_kibana_import(args: argparse.Namespace) -> int:
    from indexer._es_kibana import import_saved_objects

    conf = settings()
    if not conf.kibana.url:
        raise UsageError("[kibana] url is empty; set it (or VOC_KIBANA__URL) to import")
    answer = _retrying(args.wait, lambda: import_saved_objects(
        conf.kibana.url, prefix=conf.elasticsearch.index_prefix, username=conf.elasticsearch.username,
        api_key=conf.secrets.value("es_api_key"), password=conf.secrets.value("es_password")))
    if args.json:
        print_json(answer)
    else:
        print(f"kibana import: {answer.get('successCount', 0)} object(s) imported into {conf.kibana.url}")
    for err in answer.get("errors", []):
        print(f"  {err.get('type')} {err.get('id')}: {err.get('error')}", file=sys.stderr)
    return 0 if answer.get("success") else 1
