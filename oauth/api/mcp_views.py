"""/api/mcp/*: external MCP servers of a space (`{data}` envelope, as the spec has it for MCP).

Reads need the viewer role and `spaces:read`; writes the editor role and `spaces:write`.
Remote failures (the MCP server or its authorization server) answer 502.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from accounts.selectors import resolve_space
from oauth.mcp import selectors, services
from takos.api.views import ApiView, PublicApiView


class ServerIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=1000)
    scope = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    # Only for authorization servers without dynamic registration (RFC 7591).
    client_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    client_secret = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ServerPatchIn(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    name = serializers.CharField(max_length=100, required=False)


class ConnectIn(serializers.Serializer):
    scope = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class McpView(ApiView):
    scope = "spaces"


class ServersView(McpView):
    def get(self, request: Request) -> Response:
        space = resolve_space(request.user, request.query_params.get("spaceId") or "me").space
        return Response({"data": [selectors.server_json(s) for s in selectors.servers_of(space)]})

    def post(self, request: Request) -> Response:
        space = resolve_space(request.user, request.query_params.get("spaceId") or "me", min_role=Role.EDITOR).space
        data = self.parse(ServerIn, request)
        server, auth_url = services.mcp_server_create(space=space, actor=request.user, request=request._request,
                                                      **data)
        return Response({"data": {**selectors.server_json(server), "auth_url": auth_url}},
                        status=status.HTTP_201_CREATED)


class ServerDetailView(McpView):
    def get(self, request: Request, server_id: str) -> Response:
        return Response({"data": selectors.server_json(selectors.server_for_user(request.user, server_id))})

    def patch(self, request: Request, server_id: str) -> Response:
        server = selectors.server_for_user(request.user, server_id, min_role=Role.EDITOR)
        data = self.parse(ServerPatchIn, request)
        server = services.mcp_server_update(server=server, **data)
        return Response({"data": selectors.server_json(server)})

    def delete(self, request: Request, server_id: str) -> Response:
        services.mcp_server_delete(server=selectors.server_for_user(request.user, server_id, min_role=Role.EDITOR))
        return Response({"success": True})


class ServerConnectView(McpView):
    """Start (again) the authorization of a server: `{data: {auth_url}}` (null: none needed)."""

    def post(self, request: Request, server_id: str) -> Response:
        server = selectors.server_for_user(request.user, server_id, min_role=Role.EDITOR)
        data = self.parse(ConnectIn, request)
        auth_url = services.mcp_server_connect(server=server, actor=request.user, scope=data["scope"],
                                               request=request._request)
        return Response({"data": {"auth_url": auth_url}})


class ServerToolsView(McpView):
    def get(self, request: Request, server_id: str) -> Response:
        server = selectors.server_for_user(request.user, server_id)
        return Response({"data": services.mcp_list_tools(server=server)})


class OAuthCallbackView(PublicApiView):
    """The authorization server sends the person's browser here with the one-time `state`.

    Public (no API token), but the browser must be signed in to Takos as the person who
    started the authorization: signed out, it goes through the sign-in page and comes back.
    """

    authentication_classes = [SessionAuthentication]  # the browser's session; bearer tokens are no use here

    def get(self, request: Request) -> HttpResponseRedirect:
        if not request.user.is_authenticated:
            return HttpResponseRedirect("/login?" + urlencode({"next": request._request.get_full_path()}))
        q = request.query_params
        server = services.mcp_oauth_callback(
            user=request.user, state=q.get("state", ""), code=q.get("code", ""), iss=q.get("iss", ""),
            error=q.get("error", ""), error_description=q.get("error_description", ""))
        query = urlencode({"spaceId": server.space_id, "connected": server.name})
        return HttpResponseRedirect(f"/settings/mcp?{query}")
