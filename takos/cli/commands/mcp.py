"""`takos mcp list|add|remove|tools|connect`: external MCP servers of a space (oauth app).

A server is named by its 16-character id or by its name in `--space`.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

from takos.cli.client import ApiClient, CliError
from takos.cli.output import emit

COLUMNS = ["id", "name", "status", "auth_mode", "tool_count", "url"]


def resolve_server(api: ApiClient, ref: str, space: str) -> dict[str, Any]:
    for server in api.get("/api/mcp/servers", spaceId=space)["data"]:
        if ref in (server["id"], server["name"]):
            return server
    raise CliError(f"No MCP server {ref} in space {space}.", status=404, code="NOT_FOUND")


def _authorize(data: dict[str, Any], args: argparse.Namespace) -> None:
    url = data.get("auth_url")
    if not url or args.json:
        return
    print(f"Open this URL to authorize Takos at the server's sign-in page:\n  {url}", file=sys.stderr)
    if not args.no_browser:
        webbrowser.open(url)


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get("/api/mcp/servers", spaceId=args.space)
    emit(data, args.json, rows=data["data"], columns=COLUMNS)
    return 0


def _add(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"name": args.name, "url": args.server_url}
    if args.scope:
        body["scope"] = args.scope
    data = api.request("POST", "/api/mcp/servers", json=body, params={"spaceId": args.space})["data"]
    emit({"data": data}, args.json, message=f"MCP server {data['name']} ({data['id']}) is {data['status']}")
    _authorize(data, args)
    return 0


def _connect(args: argparse.Namespace, api: ApiClient) -> int:
    server = resolve_server(api, args.server, args.space)
    data = api.post(f"/api/mcp/servers/{server['id']}/connect", {})["data"]
    emit({"data": data}, args.json, message=None if data.get("auth_url") else f"{server['name']} needs no authorization")
    _authorize(data, args)
    return 0


def _remove(args: argparse.Namespace, api: ApiClient) -> int:
    server = resolve_server(api, args.server, args.space)
    data = api.delete(f"/api/mcp/servers/{server['id']}")
    emit(data, args.json, message=f"Removed MCP server {server['name']}")
    return 0


def _tools(args: argparse.Namespace, api: ApiClient) -> int:
    server = resolve_server(api, args.server, args.space)
    data = api.get(f"/api/mcp/servers/{server['id']}/tools")
    rows = [{"name": t["name"], "agent_name": f"mcp__{server['name']}__{t['name']}",
             "description": (t.get("description") or "")[:80]} for t in data["data"]]
    emit(data, args.json, rows=rows, columns=["name", "agent_name", "description"])
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser | None = None) -> None:
    parents = [common] if common is not None else []
    mcp = subparsers.add_parser("mcp", parents=parents, help="external MCP servers whose tools agents can use")
    sub = mcp.add_subparsers(dest="sub", required=True)
    space = argparse.ArgumentParser(add_help=False)
    space.add_argument("--space", default="me", help="space id or slug (default: your personal space)")

    p = sub.add_parser("list", parents=[*parents, space], help="servers of the space")
    p.set_defaults(handler=_list)
    p = sub.add_parser("add", parents=[*parents, space], help="add a server (prints the OAuth URL if it needs one)")
    p.add_argument("name")
    # not `url`: that dest is the global --url (the Takos server)
    p.add_argument("server_url", metavar="url", help="the MCP endpoint (streamable HTTP)")
    p.add_argument("--scope", help="scopes to ask for (default: what the server advertises)")
    p.add_argument("--no-browser", action="store_true", help="print the authorization URL only")
    p.set_defaults(handler=_add)
    p = sub.add_parser("connect", parents=[*parents, space], help="authorize (again) a server")
    p.add_argument("server", help="id or name")
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(handler=_connect)
    p = sub.add_parser("remove", parents=[*parents, space], help="remove a server")
    p.add_argument("server", help="id or name")
    p.set_defaults(handler=_remove)
    p = sub.add_parser("tools", parents=[*parents, space], help="list a server's tools")
    p.add_argument("server", help="id or name")
    p.set_defaults(handler=_tools)
