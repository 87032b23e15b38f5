"""MCP tools for agent runs: each enabled, connected server of the run's space offers its tools
as `mcp__<server>__<tool>`, and a call goes to that server's `tools/call` with its stored token.

Tool names are sanitized for model APIs (`[A-Za-z0-9_-]`, at most 64 characters); the server's
tool snapshot maps a sanitized name back to the real one.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from oauth.mcp import selectors, services
from oauth.models import MCPServer
from takos.api.errors import ApiError, BadRequest, NotFound

logger = logging.getLogger(__name__)
PREFIX = "mcp__"
SEP = "__"
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: MCPServer, tool: str) -> str:
    return f"{PREFIX}{server.name}{SEP}{_UNSAFE.sub('_', tool)}"[:MAX_NAME]


def catalog(space: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """(tool entries, names of servers that failed to list). Lists each server live; a server that
    fails keeps offering its last snapshot, so a flaky server does not hide its tools at once."""
    entries: list[dict[str, Any]] = []
    failed: list[str] = []
    for server in selectors.enabled_servers_of(space):
        if not server.connected:
            failed.append(server.name)
            continue
        try:
            tools = services.mcp_list_tools(server=server)
        except ApiError as exc:
            logger.warning("MCP server %s (%s) did not list its tools: %s", server.name, server.id, exc.detail)
            failed.append(server.name)
            tools = server.tools_snapshot or []
        for tool in tools:
            entries.append({"name": tool_name(server, tool["name"]),
                            "description": f"[MCP {server.name}] {tool.get('description') or tool['name']}"[:1024],
                            "parameters": tool.get("inputSchema") or {"type": "object", "properties": {}}})
    return entries, failed


def is_mcp_tool(name: str) -> bool:
    return name.startswith(PREFIX)


def _resolve(space: Any, name: str) -> tuple[MCPServer, str]:
    for server in selectors.enabled_servers_of(space):
        head = f"{PREFIX}{server.name}{SEP}"
        if not name.startswith(head):
            continue
        for tool in server.tools_snapshot or []:
            if tool_name(server, tool["name"]) == name:
                return server, tool["name"]
        return server, name[len(head):]
    raise NotFound(f"No enabled MCP server offers {name}.")


def execute(run: Any, name: str, arguments: dict[str, Any]) -> str:
    """Call the tool; the text the model sees. A tool-level error (`isError`) fails the call."""
    server, real = _resolve(run.space, name)
    result = services.mcp_call_tool(server=server, name=real, arguments=arguments)
    text = content_text(result)
    if result.get("isError"):
        raise BadRequest(text or "The MCP tool reported an error.")
    return text


def content_text(result: dict[str, Any]) -> str:
    parts: list[str] = []
    for item in result.get("content") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            parts.append(str(item.get("text") or ""))
        elif kind == "resource" and isinstance(item.get("resource"), dict):
            resource = item["resource"]
            parts.append(str(resource.get("text") or f"[resource {resource.get('uri', '')}]"))
        elif kind == "resource_link":
            parts.append(f"[resource {item.get('uri', '')}]")
        else:
            parts.append(f"[{kind} {item.get('mimeType', '')}]".replace(" ]", "]"))
    if not parts and result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"]))
    return "\n".join(parts)
