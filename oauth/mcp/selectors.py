"""Reads for MCP servers, always scoped to the viewer's spaces (another space's server is a 404)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import Role, Space, role_at_least
from accounts.selectors import resolve_space
from oauth.models import MCPServer
from takos.api.errors import Forbidden, NotFound

MCP_ID_LENGTH = 16


def servers_of(space: Space) -> QuerySet[MCPServer]:
    return MCPServer.objects.filter(space=space).order_by("name")


def enabled_servers_of(space: Space) -> QuerySet[MCPServer]:
    return servers_of(space).filter(enabled=True)


def server_for_user(user: Any, server_id: str, *, min_role: str = Role.VIEWER) -> MCPServer:
    """The server if the user is a member of its space; below `min_role` is FORBIDDEN."""
    if not server_id or len(server_id) != MCP_ID_LENGTH or not server_id.isalnum():
        raise NotFound("MCP server not found.")
    server = MCPServer.objects.select_related("space").filter(pk=server_id).first()
    if server is None:
        raise NotFound("MCP server not found.")
    try:
        access = resolve_space(user, server.space_id)
    except NotFound:
        raise NotFound("MCP server not found.") from None
    if not role_at_least(access.role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher in the space.")
    return server


def server_json(server: MCPServer) -> dict[str, Any]:
    return {
        "id": server.id, "space_id": server.space_id, "name": server.name, "url": server.url,
        "transport": server.transport, "source_type": server.source_type, "auth_mode": server.auth_mode,
        "enabled": server.enabled, "status": server.status, "oauth_scope": server.oauth_scope,
        "oauth_issuer_url": server.oauth_issuer_url,
        "oauth_token_expires_at": server.oauth_token_expires_at.isoformat() if server.oauth_token_expires_at else None,
        "tool_count": len(server.tools_snapshot or []), "last_error": server.last_error or None,
        "created_at": server.created_at.isoformat(), "updated_at": server.updated_at.isoformat(),
    }
