"""`takos threads list|create|show` (alias `thread`): agent threads."""

from __future__ import annotations

import argparse

from takos.cli.client import ApiClient
from takos.cli.output import emit

COLUMNS = ["id", "title", "status", "updated_at"]


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/spaces/{args.space}/threads", status=args.status, limit=args.limit)
    emit(data, args.json, rows=data["threads"], columns=COLUMNS)
    return 0


def _create(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.post(f"/api/spaces/{args.space}/threads", {"title": args.title or ""})
    thread = data["thread"]
    emit(data, args.json, message=f"Created thread {thread['id']}" + (f" ({thread['title']})" if thread["title"] else ""))
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    thread = api.get(f"/api/threads/{args.id}")["thread"]
    messages = api.get(f"/api/threads/{args.id}/messages", limit=200)["messages"]
    if args.json:
        emit({"thread": thread, "messages": messages}, True)
        return 0
    print(f"{thread['title'] or thread['id']} [{thread['status']}]")
    for message in messages:
        print(f"\n{message['role']}> {message['content']}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    threads = sub.add_parser("threads", aliases=["thread"], parents=[common], help="agent threads").add_subparsers(
        dest="sub", required=True)
    p = threads.add_parser("list", parents=[common], help="threads of a space")
    p.add_argument("--space", default="me", help="space id or slug (default: your personal space)")
    p.add_argument("--status", choices=["active", "archived"])
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=_list)
    p = threads.add_parser("create", parents=[common], help="create a thread")
    p.add_argument("title", nargs="?")
    p.add_argument("--space", default="me")
    p.set_defaults(handler=_create)
    p = threads.add_parser("show", parents=[common], help="a thread and its messages")
    p.add_argument("id")
    p.set_defaults(handler=_show)
