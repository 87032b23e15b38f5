"""Console page for MCP servers of a space: add, connect (OAuth), disconnect, enable, remove, tools."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.models import Role, role_at_least
from accounts.selectors import resolve_space, spaces_for_user
from oauth.mcp import selectors, services
from takos.api.errors import ApiError
from takos.console.helpers import attempt


def _page_url(space_id: str) -> str:
    return "/settings/mcp?" + urlencode({"spaceId": space_id})


@login_required
def mcp_page(request: HttpRequest) -> HttpResponse:
    access = attempt(request, lambda: resolve_space(request.user, request.GET.get("spaceId") or "me"))
    if access is None:
        access = resolve_space(request.user, "me")
    space = access.space
    if request.GET.get("connected"):
        messages.success(request, f"MCP server {request.GET['connected']} is connected.")
    can_edit = role_at_least(access.role, Role.EDITOR)
    if request.method == "POST" and can_edit:
        created = attempt(request, lambda: services.mcp_server_create(
            space=space, actor=request.user, name=request.POST.get("name", ""), url=request.POST.get("url", ""),
            scope=request.POST.get("scope", ""), request=request))
        if created is not None:
            server, auth_url = created
            if auth_url:  # straight on to the authorization server's consent page
                return HttpResponseRedirect(auth_url)
            messages.success(request, f"MCP server {server.name} added.")
            return HttpResponseRedirect(_page_url(space.id))
    show = request.GET.get("tools") or ""
    servers = list(selectors.servers_of(space))
    shown_tools: list[dict[str, Any]] | None = None
    for server in servers:
        if server.id == show:  # listed live: this is also how a person checks the connection
            shown_tools = attempt(request, lambda s=server: services.mcp_list_tools(server=s))
    return render(request, "oauth/mcp.html", {
        "nav": "mcp", "space": space, "spaces": spaces_for_user(request.user), "servers": servers,
        "can_edit": can_edit, "shown_tools": shown_tools or [], "shown": show,
    })


@login_required
@require_POST
def mcp_action(request: HttpRequest, server_id: str, action: str) -> HttpResponse:
    try:
        server = selectors.server_for_user(request.user, server_id, min_role=Role.EDITOR)
    except ApiError as exc:
        messages.error(request, str(exc.detail))
        return HttpResponseRedirect("/settings/mcp")
    back = _page_url(server.space_id)
    try:
        if action == "connect":
            auth_url = services.mcp_server_connect(server=server, actor=request.user, request=request)
            if auth_url:
                return HttpResponseRedirect(auth_url)
            messages.success(request, f"{server.name} needs no authorization.")
        elif action == "disconnect":
            services.mcp_server_disconnect(server=server)
            messages.success(request, f"{server.name} disconnected: its tokens are forgotten.")
        elif action in ("enable", "disable"):
            services.mcp_server_update(server=server, enabled=action == "enable")
            messages.success(request, f"{server.name} {action}d.")
        elif action == "remove":
            services.mcp_server_delete(server=server)
            messages.success(request, f"{server.name} removed.")
        else:
            messages.error(request, "Unknown action.")
    except ApiError as exc:
        messages.error(request, str(exc.detail))
    return HttpResponseRedirect(back)
