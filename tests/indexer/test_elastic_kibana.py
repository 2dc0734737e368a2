"""Kibana saved objects (they parse, reference each other and only mapped fields), the import
through a local HTTP server standing in for Kibana, Discover URLs, and `voc es setup` / `voc kibana
import` end to end against the local servers."""

from __future__ import annotations

import argparse
import json
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from support.es_server import start
from support.store_records import SH, T0

from indexer._es_kibana import KIBANA_DIR, import_saved_objects, saved_objects
from indexer._es_setup import mapping
from indexer.discover import discover_url, kql, rison
from indexer.errors import StoreUnavailable
from indexer.store import NONE_KEY, Filters


def fields_of(props, prefix=""):
    out = set()
    for name, spec in props.items():
        path = prefix + name
        out.add(path)
        out |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
        out |= fields_of(spec.get("properties", {}), path + ".")
    return out


FEEDBACK_FIELDS = fields_of(mapping("feedback")["mappings"]["properties"])
ALERT_FIELDS = fields_of(mapping("alerts")["mappings"]["properties"])
_KQL_FIELD = re.compile(r"(?:^|[\s(])(?:not\s+)?([A-Za-z_][\w.]*)\s*(?::|>=|<=|>|<)")


def objects():
    out = []
    for path in sorted(KIBANA_DIR.glob("*.ndjson")):
        out += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return out


def referenced_fields(obj):
    """Every field name a saved object uses: time field, formats, aggregations, columns, sort, KQL."""
    attrs = obj["attributes"]
    found = set()
    if obj["type"] == "index-pattern":
        found.add(attrs["timeFieldName"])
        found |= set(json.loads(attrs.get("fieldFormatMap", "{}")))
        found |= set(json.loads(attrs.get("fieldAttrs", "{}")))
    if obj["type"] == "visualization":
        for agg in json.loads(attrs["visState"])["aggs"]:
            if "field" in agg["params"]:
                found.add(agg["params"]["field"])
    if obj["type"] == "search":
        found |= set(attrs["columns"]) | {s[0] for s in attrs["sort"]}
    search = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if search:
        found |= set(_KQL_FIELD.findall(json.loads(search)["query"]["query"]))
    return found


def test_saved_objects_parse_and_use_only_mapped_fields():
    objs = objects()
    assert {o["type"] for o in objs} == {"index-pattern", "visualization", "search", "dashboard"}
    by_id = {o["id"]: o for o in objs}
    feedback_view = by_id["voc-feedback"]["attributes"]
    assert (feedback_view["title"], feedback_view["timeFieldName"]) == ("voc-feedback*", "created_at")
    for obj in objs:
        allowed = ALERT_FIELDS if obj["id"] == "voc-alerts" else FEEDBACK_FIELDS
        assert referenced_fields(obj) <= allowed, obj["id"]
        assert obj["coreMigrationVersion"] and obj["typeMigrationVersion"]
        for ref in obj["references"]:
            assert ref["id"] in by_id and by_id[ref["id"]]["type"] == ref["type"], (obj["id"], ref)


def test_field_check_can_fail():
    search = json.dumps({"query": {"query": "colour:red", "language": "kuery"}})
    bad = {"type": "search", "attributes": {"columns": ["text", "no_such_field"],
                                            "sort": [["created_at", "desc"]],
                                            "kibanaSavedObjectMeta": {"searchSourceJSON": search}}}
    assert referenced_fields(bad) - FEEDBACK_FIELDS == {"no_such_field", "colour"}


def test_dashboard_has_the_five_panels():
    dash = next(o for o in objects() if o["type"] == "dashboard")
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert len(panels) == 5
    names = {r["name"]: r["id"] for r in dash["references"]}
    assert {names[p["panelRefName"]] for p in panels} == {
        "voc-sentiment-over-time", "voc-negative-share-by-topic", "voc-volume-by-source", "voc-risk-flags",
        "voc-latest-negative"}
    table = next(o for o in objects() if o["id"] == "voc-latest-negative")
    assert "url" in table["attributes"]["columns"]
    view = next(o for o in objects() if o["id"] == "voc-feedback")
    assert json.loads(view["attributes"]["fieldFormatMap"])["url"]["id"] == "url"  # clickable links


def test_prefix_rewrites_data_view_titles():
    body = saved_objects("bank1").decode()
    titles = [json.loads(line)["attributes"]["title"] for line in body.splitlines()
              if json.loads(line)["type"] == "index-pattern"]
    assert titles == ["bank1-feedback*", "bank1-alerts"]


class _Kibana(BaseHTTPRequestHandler):
    seen: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        count = sum(line.startswith(b"{") for line in body.split(b"\n"))
        answer = json.dumps({"success": self.status == 200, "successCount": count, "errors": []}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def kibana():
    _Kibana.seen, _Kibana.status = [], 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Kibana)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_import_posts_multipart_with_xsrf_and_auth(kibana, monkeypatch):
    answer = import_saved_objects(kibana + "/", password="pw")
    assert answer["success"] is True and answer["successCount"] == len(objects())
    path, headers, body = _Kibana.seen[-1]
    assert path == "/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] == "true" and headers["authorization"].startswith("Basic ")
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="voc.ndjson"' in body and saved_objects() in body


def test_import_errors_name_the_status(kibana):
    _Kibana.status = 403
    with pytest.raises(StoreUnavailable, match="status=403"):
        import_saved_objects(kibana)
    with pytest.raises(StoreUnavailable, match="Kibana import failed"):
        import_saved_objects("http://127.0.0.1:1")


# -- Discover URLs -------------------------------------------------------------------------------

def test_rison_encoding():
    assert rison({"a": [1, "x y", True, None], "b": "it's!"}) == "(a:!(1,'x y',!t,!n),b:'it!'s!!')"
    assert rison("voc-feedback") == "voc-feedback" and rison("") == "''" and rison("1a") == "'1a'"
    assert rison(-2.5) == "-2.5" and rison({}) == "()"


def test_kql_escapes_untrusted_values():
    text = kql('贷 a"b\\c*(x):y', Filters(topics=('信用卡"or x:1',), sentiment=("negative", NONE_KEY),
                                          min_severity="critical", ours=False, distinct_clusters=True))
    assert '(text.sub:*贷* or title.sub:*贷*)' in text
    assert r'text.sub:*a\"b\\c\*\(x\)\:y*' in text
    assert r'topic_paths:("信用卡\"or x:1")' in text
    assert '(sentiment.label:("negative") or not sentiment.label:*)' in text
    assert "risk_level >= 2" in text and "not ours:true" in text and "not duplicate_of:*" in text
    assert "sentiment.scores.negative >= 0.15" in kql("", Filters(min_negative_score=0.15))


def test_discover_url_carries_window_and_query_safely():
    start = datetime(2026, 1, 10, 9, 0, tzinfo=SH)
    url = discover_url("https://kibana.bank/", "闪退 & #x", Filters(sources=("weibo",)), start,
                       start + timedelta(hours=1))
    assert url.startswith("https://kibana.bank/app/discover#/?_g=(")
    head, a = url.split("&_a=")
    assert "&" not in a and "#" not in a.split("#", 1)[-1] and " " not in url
    decoded_g, decoded_a = unquote(head.split("_g=")[1]), unquote(a)
    assert "time:(from:'2026-01-10T01:00:00.000Z',to:'2026-01-10T02:00:00.000Z')" in decoded_g
    assert "index:voc-feedback" in decoded_a and "sort:!(!(created_at,desc))" in decoded_a
    assert "query:(language:kuery,query:'(text.sub:*闪退* or title.sub:*闪退*) and " in decoded_a
    assert "text.sub:*&*" in decoded_a and 'source:(\"weibo\")' in decoded_a
    assert "%26" in a and "%23" in a  # & and # from the search text are encoded


def test_discover_url_quotes_rison_specials():
    url = discover_url("http://k", "", Filters(topics=("it's!",)), T0, None)
    assert "topic_paths:(\"it!'s!!\")" in unquote(url) and "to:now" in unquote(url)


# -- the commands --------------------------------------------------------------------------------

def test_voc_es_setup_and_kibana_import(kibana, monkeypatch, capsys):
    from voc.cli.es import cmd_es_setup, cmd_kibana_import

    fake, stop = start()
    try:
        monkeypatch.setenv("VOC_ELASTICSEARCH__HOSTS", json.dumps([fake.url]))
        monkeypatch.setenv("VOC_ELASTICSEARCH__INDEX_PREFIX", "bank1")
        monkeypatch.setenv("VOC_KIBANA__URL", kibana)
        args = argparse.Namespace(analyzer=None, replicas=0, wait=0, json=True)
        assert cmd_es_setup(args) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["analyzer"] == "cjk" and "bank1-state" in report["created"]
        assert "bank1-feedback" in fake.templates
        assert cmd_es_setup(argparse.Namespace(analyzer="cjk", replicas=None, wait=0, json=False)) == 0
        assert "created: none" in capsys.readouterr().out
        assert cmd_kibana_import(argparse.Namespace(wait=0, json=False)) == 0
        assert "imported" in capsys.readouterr().out
        assert b"bank1-feedback*" in _Kibana.seen[-1][2]
    finally:
        stop()
