"""Load the shipped Kibana saved objects (indexer/kibana/*.ndjson) through Kibana's import API.

`POST <kibana>/api/saved_objects/_import?overwrite=true` with the `kbn-xsrf` header and the NDJSON
as a multipart file, so `voc kibana import` can run on every start. Credentials as for
Elasticsearch: `VOC_ES_API_KEY` (an `ApiKey` header) or `username` + `VOC_ES_PASSWORD`. With an
index prefix other than `voc`, the data views' titles (`voc-feedback*`, `voc-alerts`) follow it.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from indexer.errors import StoreQueryError, StoreUnavailable

KIBANA_DIR = Path(__file__).resolve().parent / "kibana"


def saved_objects(prefix: str = "voc") -> bytes:
    """Every shipped saved object as one NDJSON body, the data view retitled for `prefix`."""
    lines: list[str] = []
    for path in sorted(KIBANA_DIR.glob("*.ndjson")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise StoreQueryError(f"{path.name} line {number}: not JSON: {exc}") from exc
            title = obj.get("attributes", {}).get("title", "")
            if obj.get("type") == "index-pattern" and title.startswith("voc-"):
                obj["attributes"]["title"] = f"{prefix}-{title[4:]}"
            lines.append(json.dumps(obj, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _auth_header(username: str, api_key: str | None, password: str | None) -> dict[str, str]:
    if api_key:
        return {"Authorization": "ApiKey " + api_key}
    if password:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": "Basic " + token}
    return {}


def import_saved_objects(kibana_url: str, prefix: str = "voc", username: str = "elastic",
                         timeout: float = 60.0, api_key: str | None = None,
                         password: str | None = None) -> dict[str, Any]:
    """Import (overwriting) the shipped objects; returns Kibana's answer
    (`success`, `successCount`, `errors`). StoreUnavailable when Kibana cannot be reached."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"voc.ndjson\"\r\n"
            "Content-Type: application/ndjson\r\n\r\n").encode() + saved_objects(prefix) + \
        f"\r\n--{boundary}--\r\n".encode()
    headers = {"kbn-xsrf": "true", "Content-Type": f"multipart/form-data; boundary={boundary}",
               **_auth_header(username, api_key, password)}
    url = kibana_url.rstrip("/") + "/api/saved_objects/_import?overwrite=true"
    try:
        with urlopen(Request(url, data=body, headers=headers, method="POST"), timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise StoreUnavailable(f"Kibana import failed url={url} status={exc.code}: {detail}") from exc
    except (URLError, OSError, ValueError) as exc:
        raise StoreUnavailable(f"Kibana import failed url={url}: {exc}") from exc
    return dict(answer)
