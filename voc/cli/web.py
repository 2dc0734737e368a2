"""`voc web`, `voc users`, `voc audit` and `voc labels`: the console and what it keeps.

    voc web [--host 127.0.0.1] [--port 8080]      the console (uvicorn), over the configured store
    voc users add NAME --role viewer|operator|admin   the password is read from stdin
    voc users list | role NAME ROLE | disable NAME | enable NAME
    voc users token NAME [--revoke]                an API token for scripts (Authorization: Bearer)
    voc audit [--limit 50] [--user NAME] [--json]  who did what
    voc labels export [--output F.jsonl]           label corrections in the training data format

A password from a terminal is asked twice without echo; from a pipe, the first line is taken.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voc.cli.common import UsageError, lazy, print_json, settings

ROLES = ("viewer", "operator", "admin")


def register(sub: Any) -> None:
    p = sub.add_parser("web", help="the web console (search, incidents, sources, re-crawl)",
                       description="Serve the web console with uvicorn over the configured store. "
                                   "Create the first admin with `voc users add NAME --role admin`.")
    p.add_argument("--host", help="listen on this address (default [web] host)")
    p.add_argument("--port", type=int, help="listen on this port (default [web] port)")
    p.set_defaults(handler=lazy("voc.cli.web", "cmd_web"))

    p = sub.add_parser("users", help="console users and API tokens",
                       description="Users of the web console, kept in the store.")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = usub.add_parser("add", help="add a user (password from stdin)")
    a.add_argument("name")
    a.add_argument("--role", choices=ROLES, default="viewer")
    a.add_argument("--replace", action="store_true", help="set a new password and role for an existing user")
    a.set_defaults(handler=lazy("voc.cli.web", "cmd_users_add"))
    a = usub.add_parser("list", help="the users")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=lazy("voc.cli.web", "cmd_users_list"))
    a = usub.add_parser("role", help="change a user's role")
    a.add_argument("name")
    a.add_argument("role", choices=ROLES)
    a.set_defaults(handler=lazy("voc.cli.web", "cmd_users_role"))
    for action, help_text in (("disable", "disable a user (sessions and tokens end)"),
                              ("enable", "enable a user")):
        a = usub.add_parser(action, help=help_text)
        a.add_argument("name")
        a.set_defaults(handler=lazy("voc.cli.web", "cmd_users_enable"), enable=action == "enable")
    a = usub.add_parser("token", help="print a new API token for NAME, or --revoke them all")
    a.add_argument("name")
    a.add_argument("--revoke", action="store_true", help="revoke every token of NAME")
    a.set_defaults(handler=lazy("voc.cli.web", "cmd_users_token"))

    p = sub.add_parser("audit", help="the console's audit log: who did what",
                       description="The audit log, newest first (times in the [app] timezone).")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--user", help="only this user")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=lazy("voc.cli.web", "cmd_audit"))

    p = sub.add_parser("labels", help="label corrections made in the console",
                       description="Label corrections (console record page), for training.")
    lsub = p.add_subparsers(dest="labels_command", required=True, metavar="ACTION")
    a = lsub.add_parser("export", help="write the corrections as JSONL in the training data format")
    a.add_argument("--output", "-o", default="-", help="file to write (default stdout)")
    a.set_defaults(handler=lazy("voc.cli.web", "cmd_labels_export"))


def _store(must_exist: bool = False) -> Any:
    from indexer import open_settings_store

    return open_settings_store(settings(), must_exist=must_exist)


def ingest_for(conf: Any, store: Any) -> Any:
    """What the console's upload hands records to: the pipeline `voc import` uses."""
    from voc.cli.common import UpsertTally
    from voc.pipeline import build_pipeline

    def ingest(records: list[Any]) -> dict[str, Any]:
        tally = UpsertTally(store)
        report = build_pipeline(conf, store=tally, progress=False).run(records)
        return {**report.to_dict(), **tally.as_dict()}

    return ingest


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app

    conf = settings()
    store = _store()
    host, port = args.host or conf.web.host, args.port or conf.web.port
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port")
    from voc.pipeline import branch_namer

    app = create_app(conf, store, ingest=ingest_for(conf, store), branch_name=branch_namer(conf))
    print(f"voc web: http://{host}:{port}/  (store {conf.store.backend}; Ctrl-C stops)", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()
    return 0


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise UsageError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@contextmanager
def _users_store() -> Iterator[Any]:
    """The store for a `voc users` action: an AuthError (a bad name, role or password) is a usage
    error (exit 2, one line); the store is closed either way."""
    from web.auth import AuthError

    store = _store()
    try:
        yield store
    except AuthError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()


def _audit(store: Any, action: str, target: str, detail: str = "") -> None:
    from web import audit

    audit.record(store, f"cli:{getpass.getuser()}", action, target, detail)


def cmd_users_add(args: argparse.Namespace) -> int:
    from web.auth import add_user

    password = _password()
    with _users_store() as store:
        add_user(store, args.name, args.role, password, by=getpass.getuser(), replace=args.replace)
        _audit(store, "user_add", args.name, args.role)
    print(f"user {args.name} ({args.role}) {'updated' if args.replace else 'added'}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from web.auth import list_users

    with _users_store() as store:
        users = list_users(store)
    if args.json:
        print_json(users)
        return 0
    for u in users:
        print(f"{u['name']:<24} {u['role']:<9} {'disabled' if u.get('disabled') else 'enabled'}")
    if not users:
        print("no users yet: voc users add NAME --role admin")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    from web.auth import set_role

    with _users_store() as store:
        set_role(store, args.name, args.role)
        _audit(store, "user_role", args.name, args.role)
    print(f"user {args.name} is now {args.role}")
    return 0


def cmd_users_enable(args: argparse.Namespace) -> int:
    from web.auth import set_disabled

    with _users_store() as store:
        set_disabled(store, args.name, not args.enable)
        _audit(store, "user_enable" if args.enable else "user_disable", args.name)
    print(f"user {args.name} {'enabled' if args.enable else 'disabled'}")
    return 0


def cmd_users_token(args: argparse.Namespace) -> int:
    from web.auth import issue_token, revoke_tokens

    with _users_store() as store:
        if args.revoke:
            gone = revoke_tokens(store, args.name)
            _audit(store, "token_revoke", args.name, f"{gone} token(s)")
            print(f"revoked {gone} token(s) of {args.name}")
            return 0
        token = issue_token(store, args.name)
        _audit(store, "token_issue", args.name)
    print(token)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from web import audit

    conf = settings()
    store = _store()
    try:
        entries = audit.entries(store, limit=args.limit, user=args.user)
    finally:
        store.close()
    if args.json:
        print_json(entries)
        return 0
    from datetime import datetime

    for e in entries:
        at = datetime.fromisoformat(e["at"]).astimezone(conf.display_tz).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{at}  {e['user']:<16} {e['action']:<14} {e['target']}  {e['detail']}".rstrip())
    if not entries:
        print("the audit log is empty")
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    from indexer.labels import export_corrections

    store = _store()
    try:
        rows = list(export_corrections(store))
    finally:
        store.close()
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.output == "-":
        sys.stdout.write(lines)
    else:
        Path(args.output).write_text(lines, encoding="utf-8")
        print(f"{len(rows)} correction(s) written to {args.output}", file=sys.stderr)
    return 0
