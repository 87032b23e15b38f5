"""`takos session start|list|show|health|exec|stop|resume|discard`: runtime sessions."""

from __future__ import annotations

import argparse
import sys

from takos.cli.client import ApiClient
from takos.cli.output import emit

COLUMNS = ["id", "status", "repo_id", "branch", "driver", "last_heartbeat", "created_at"]


def _start(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"repo_id": args.repo}
    if args.branch:
        body["branch"] = args.branch
    data = api.post(f"/api/spaces/{args.space}/sessions", body)
    s = data["session"]
    emit(data, args.json, message=f"Session {s['id']} is {s['status']} on {s['branch']}")
    return 0


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/spaces/{args.space}/sessions", status=args.status, limit=args.limit)
    emit(data, args.json, rows=data["sessions"], columns=COLUMNS)
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/sessions/{args.id}")
    emit(data["session"] if not args.json else data, args.json)
    return 0


def _health(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/sessions/{args.id}/health")
    emit(data, args.json, message=f"{data['session_id']}: {data['status']}, healthy={data['healthy']}")
    return 0 if data["healthy"] else 1


def _exec(args: argparse.Namespace, api: ApiClient) -> int:
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        print("takos: give a command after --", file=sys.stderr)
        return 2
    data = api.post(f"/api/sessions/{args.id}/exec", {"command": command, "timeout": args.timeout})
    if args.json:
        emit(data, True)
    else:
        print(data["output"], end="")
    return int(data["exit_code"])


def _stop(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"commit_message": args.message} if args.message else {}
    data = api.post(f"/api/sessions/{args.id}/stop", body)
    s = data["session"]
    note = f", committed {s['head_sha'][:12]}" if s.get("head_sha") and args.message else ""
    emit(data, args.json, message=f"Session {s['id']} is {s['status']}{note}")
    return 0


def _simple(action: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace, api: ApiClient) -> int:
        data = api.post(f"/api/sessions/{args.id}/{action}")
        emit(data, args.json, message=f"Session {data['session']['id']} is {data['session']['status']}")
        return 0

    return handler


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser | None = None) -> None:
    parents = [common] if common is not None else []
    session = subparsers.add_parser("session", parents=parents, help="runtime sessions (a container on a repo)")
    sub = session.add_subparsers(dest="sub", required=True)

    p = sub.add_parser("start", parents=parents, help="start a session on a repository branch")
    p.add_argument("repo", help="repository id")
    p.add_argument("--branch", help="branch (default: the repository's default branch)")
    p.add_argument("--space", default="me", help="space id or slug (default: me)")
    p.set_defaults(handler=_start)

    p = sub.add_parser("list", parents=parents, help="list sessions of a space")
    p.add_argument("--space", default="me")
    p.add_argument("--status")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=_list)

    for name, handler, helptext in (("show", _show, "show one session"), ("health", _health, "check health")):
        p = sub.add_parser(name, parents=parents, help=helptext)
        p.add_argument("id")
        p.set_defaults(handler=handler)

    p = sub.add_parser("exec", parents=parents, help="run a command in the session's /workspace")
    p.add_argument("id")
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="command and arguments (after --)")
    p.set_defaults(handler=_exec)

    p = sub.add_parser("stop", parents=parents, help="stop; with -m, commit the work tree to the branch")
    p.add_argument("id")
    p.add_argument("-m", "--message", help="commit message")
    p.set_defaults(handler=_stop)

    for action in ("resume", "discard"):
        p = sub.add_parser(action, parents=parents, help=f"{action} a session")
        p.add_argument("id")
        p.set_defaults(handler=_simple(action))
