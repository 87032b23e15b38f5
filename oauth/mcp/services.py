"""Writes for MCP servers a space connects: register, authorize (code + PKCE), refresh, call.

Connecting: `mcp_server_create` probes the server with `initialize`. A server that answers is
stored with `auth_mode=none`. A 401 starts discovery (RFC 9728 → RFC 8414), dynamic client
registration (RFC 7591) when offered, and an authorization request with PKCE S256, `state`
and the resource indicator (RFC 8707); the PKCE verifier waits in `mcp_oauth_pending` until
`/api/mcp/oauth/callback` exchanges the code. Tokens are stored encrypted.

Using: `mcp_list_tools` / `mcp_call_tool` refresh an expired access token first, and once
more when the server answers 401. Refresh tokens may be rotated by the authorization server
(Takos's own revokes the whole family when an old one is replayed), so a refresh happens
under a row lock and a caller that waited for it uses the token the other one got.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Space
from hosts.egress import EgressRefused, check_url
from oauth import conf
from oauth.mcp import client as wire
from oauth.models import MCPOAuthPending, MCPServer
from services.crypto import decrypt, encrypt
from takos.api.errors import ApiError, BadRequest, Conflict

T = TypeVar("T")
NAME_RE = re.compile(r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$")  # no "__": it separates mcp__<server>__<tool>
NAME_MAX = 40
PENDING_TTL = timedelta(minutes=10)
REFRESH_MARGIN = timedelta(seconds=30)  # refresh a token this close to expiry before using it
REFRESH_LEASE = timedelta(seconds=60)  # longer than one token request (TAKOS_MCP_TIMEOUT)
REFRESH_WAIT = 45.0  # seconds a caller waits for another caller's refresh
CALLBACK_PATH = "/api/mcp/oauth/callback"


class BadGateway(ApiError):
    status_code, default_code, default_detail = 502, "BAD_GATEWAY", "The MCP server could not be used."


def _remote(exc: wire.McpError) -> BadGateway:
    return BadGateway(f"MCP server: {exc}")


# --- input checks ----------------------------------------------------------------------------------
def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or not NAME_RE.match(name):
        raise BadRequest(f"name must be 1-{NAME_MAX} letters or digits, single '-' or '_' between them.",
                         details={"fields": {"name": ["Invalid name."]}})
    return name


def check_server_url(url: str) -> str:
    """The URL must be http(s) and pass the egress guard (no private address unless allowed)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or len(url) > 1000:
        raise BadRequest("url must be an http or https URL of the MCP endpoint.",
                         details={"fields": {"url": ["Invalid URL."]}})
    try:
        check_url(url)
    except EgressRefused as exc:
        raise BadRequest(f"url is refused by the egress rules: {exc}", details={"fields": {"url": [str(exc)]}},
                         ) from None
    return url


def redirect_uri(request: HttpRequest | None) -> str:
    return conf.public_base(request) + CALLBACK_PATH


# --- connect ---------------------------------------------------------------------------------------
def mcp_server_create(*, space: Space, actor: Any, name: str, url: str, scope: str = "",
                      client_id: str = "", client_secret: str = "",
                      request: HttpRequest | None = None) -> tuple[MCPServer, str | None]:
    """Add a server to `space`; returns it and the `auth_url` the person must open, if any.

    Nothing is written when the server cannot be reached or its OAuth discovery fails.
    """
    name = check_name(name)
    if MCPServer.objects.filter(space=space, name=name).exists():
        raise Conflict(f"The space already has an MCP server named {name}.")
    url = check_server_url(url)
    plan = _probe(url, scope=scope, client_id=client_id, client_secret=client_secret, request=request)
    try:
        with transaction.atomic():
            server = MCPServer.objects.create(
                space=space, name=name, url=url, created_by=actor,
                auth_mode=MCPServer.AuthMode.NONE if plan is None else MCPServer.AuthMode.OAUTH_PKCE,
                tools_snapshot=[],
            )
            auth_url = None if plan is None else _pending_create(server=server, actor=actor, plan=plan)
    except IntegrityError:
        raise Conflict(f"The space already has an MCP server named {name}.") from None
    return server, auth_url


def mcp_server_connect(*, server: MCPServer, actor: Any, scope: str = "",
                       request: HttpRequest | None = None) -> str | None:
    """(Re)start authorization for an existing server; None when it needs none."""
    check_server_url(server.url)
    plan = _probe(server.url, scope=scope or server.oauth_scope, client_id="", client_secret="",
                  request=request, known=server)
    if plan is None:
        MCPServer.objects.filter(pk=server.pk).update(auth_mode=MCPServer.AuthMode.NONE, last_error="")
        return None
    with transaction.atomic():
        return _pending_create(server=server, actor=actor, plan=plan)


def _probe(url: str, *, scope: str, client_id: str, client_secret: str, request: HttpRequest | None,
           known: MCPServer | None = None) -> dict[str, Any] | None:
    """None when the server answers `initialize` without a token, else the authorization plan."""
    try:
        wire.Session(url).initialize()
        return None
    except wire.McpUnauthorized as challenge:
        try:
            found = wire.discover(url, challenge)
        except wire.McpError as exc:
            raise _remote(exc) from None
    except wire.McpError as exc:
        raise _remote(exc) from None
    callback = redirect_uri(request)
    scope = " ".join((scope or "").split()) or " ".join(found.scopes)
    issuer = found.auth_server.issuer
    if not client_id and known is not None and known.oauth_client_id and known.oauth_issuer_url == issuer:
        client_id, client_secret = known.oauth_client_id, decrypt(known.oauth_client_secret)
    if not client_id:
        if not found.auth_server.registration_endpoint:
            raise BadRequest("The MCP server's authorization server offers no dynamic registration: "
                             "register Takos there and give client_id (and client_secret).")
        try:
            client_id, client_secret = wire.register_client(found.auth_server, redirect_uri=callback, scope=scope)
        except wire.McpError as exc:
            raise _remote(exc) from None
    return {"issuer": issuer, "authorization_endpoint": found.auth_server.authorization_endpoint,
            "token_endpoint": found.auth_server.token_endpoint, "resource": found.resource, "scope": scope,
            "client_id": client_id, "client_secret": client_secret, "redirect_uri": callback}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _pending_create(*, server: MCPServer, actor: Any, plan: dict[str, Any]) -> str:
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(32)
    MCPOAuthPending.objects.create(
        space_id=server.space_id, server=server, user=actor, server_name=server.name, server_url=server.url,
        state=state, code_verifier=encrypt(verifier), issuer_url=plan["issuer"],
        token_endpoint=plan["token_endpoint"], resource=plan["resource"], client_id=plan["client_id"],
        client_secret=encrypt(plan["client_secret"]) if plan["client_secret"] else "",
        redirect_uri=plan["redirect_uri"], scope=plan["scope"], expires_at=timezone.now() + PENDING_TTL,
    )
    params = {"response_type": "code", "client_id": plan["client_id"], "redirect_uri": plan["redirect_uri"],
              "state": state, "code_challenge": _s256(verifier), "code_challenge_method": "S256",
              "resource": plan["resource"]}
    if plan["scope"]:
        params["scope"] = plan["scope"]
    endpoint = plan["authorization_endpoint"]
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def mcp_oauth_callback(*, user: Any, state: str, code: str, iss: str = "", error: str = "",
                       error_description: str = "") -> MCPServer:
    """Finish an authorization: exchange the code and store the tokens (encrypted).

    The pending state is taken (deleted) first, so a state works once whatever happens next.
    Only the person who started it may finish it: otherwise someone could send their own
    `auth_url` to a victim and have the victim's authorization land in their space.
    """
    if not state:
        raise BadRequest("The callback has no state.")
    pending = MCPOAuthPending.objects.select_related("server").filter(state=state).first()
    if pending is None or not MCPOAuthPending.objects.filter(pk=pending.pk).delete()[0]:
        raise BadRequest("Unknown or already used authorization state; connect the server again.")
    if pending.user_id is not None and pending.user_id != getattr(user, "pk", None):
        raise BadRequest("This authorization was started by another person; refused.")
    if pending.expires_at <= timezone.now():
        raise BadRequest("The authorization took too long (state expired); connect the server again.")
    if error:
        raise BadRequest(f"The authorization server refused: {error_description or error}.")
    if iss and wire.normalize_url(iss) != wire.normalize_url(pending.issuer_url):
        # RFC 9207: the answer came from another authorization server than the one we asked.
        raise BadRequest("The authorization response names another issuer; refused.")
    if not code:
        raise BadRequest("The callback has no code.")
    client_secret = decrypt(pending.client_secret) if pending.client_secret else ""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
            "client_id": pending.client_id, "code_verifier": decrypt(pending.code_verifier)}
    if pending.resource:
        form["resource"] = pending.resource
    tokens = _token_request(pending.token_endpoint, form, pending.client_id, client_secret)
    server = pending.server
    server.oauth_issuer_url = pending.issuer_url
    server.oauth_token_endpoint = pending.token_endpoint
    server.oauth_resource = pending.resource
    server.oauth_client_id = pending.client_id
    server.oauth_client_secret = encrypt(client_secret) if client_secret else ""
    server.auth_mode = MCPServer.AuthMode.OAUTH_PKCE
    _store_tokens(server, tokens, fallback_scope=pending.scope)
    server.save()
    return server


def _token_request(endpoint: str, form: dict[str, str], client_id: str, client_secret: str) -> dict[str, Any]:
    try:
        status, data = wire.post_form(endpoint, form, basic=(client_id, client_secret) if client_secret else None)
    except wire.McpError as exc:
        raise _remote(exc) from None
    if status != 200 or not data.get("access_token"):
        detail = data.get("error_description") or data.get("error") or f"HTTP {status}"
        raise BadGateway(f"The token request failed: {detail}", details={"oauth_error": data.get("error")})
    return data


def _store_tokens(server: MCPServer, tokens: dict[str, Any], *, fallback_scope: str = "") -> None:
    server.oauth_access_token = encrypt(str(tokens["access_token"]))
    if tokens.get("refresh_token"):  # a server that does not rotate keeps the old refresh token
        server.oauth_refresh_token = encrypt(str(tokens["refresh_token"]))
    expires_in = tokens.get("expires_in")
    try:
        server.oauth_token_expires_at = timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
    except (TypeError, ValueError):
        server.oauth_token_expires_at = None
    server.oauth_scope = str(tokens.get("scope") or fallback_scope or server.oauth_scope)
    server.last_error = ""


# --- change ----------------------------------------------------------------------------------------
def mcp_server_update(*, server: MCPServer, enabled: bool | None = None, name: str | None = None) -> MCPServer:
    fields = ["updated_at"]
    if name is not None and name != server.name:
        name = check_name(name)
        if MCPServer.objects.filter(space_id=server.space_id, name=name).exclude(pk=server.pk).exists():
            raise Conflict(f"The space already has an MCP server named {name}.")
        server.name = name
        fields.append("name")
    if enabled is not None:
        server.enabled = bool(enabled)
        fields.append("enabled")
    try:
        with transaction.atomic():
            server.save(update_fields=fields)
    except IntegrityError:
        raise Conflict(f"The space already has an MCP server named {name}.") from None
    return server


def mcp_server_disconnect(*, server: MCPServer) -> MCPServer:
    """Forget the tokens (the server stays, needing authorization again)."""
    server.oauth_access_token = server.oauth_refresh_token = ""
    server.oauth_token_expires_at = None
    server.save(update_fields=["oauth_access_token", "oauth_refresh_token", "oauth_token_expires_at", "updated_at"])
    return server


def mcp_server_delete(*, server: MCPServer) -> None:
    server.delete()


def mcp_pending_cleanup() -> int:
    """Drop authorizations nobody finished (beat runs this)."""
    return MCPOAuthPending.objects.filter(expires_at__lt=timezone.now()).delete()[0]


# --- use -------------------------------------------------------------------------------------------
def _needs_refresh(server: MCPServer) -> bool:
    expires = server.oauth_token_expires_at
    return bool(server.oauth_refresh_token) and expires is not None and expires <= timezone.now() + REFRESH_MARGIN


def _token_still_good(server: MCPServer, stale_token: str) -> bool:
    current = decrypt(server.oauth_access_token)
    return bool(current) and current != stale_token and not _needs_refresh(server)


def mcp_token_refresh(*, server: MCPServer, stale_token: str = "") -> MCPServer:
    """Swap the refresh token for new tokens; one caller at a time per server.

    The caller that wins the `refresh_lock_until` lease (compare-and-set, no transaction held
    across the HTTP call) refreshes; the others wait for it and use the token it stored.
    """
    deadline = time.monotonic() + REFRESH_WAIT
    while True:
        fresh = MCPServer.objects.get(pk=server.pk)
        if _token_still_good(fresh, stale_token):
            return fresh
        now = timezone.now()
        won = (MCPServer.objects.filter(pk=server.pk)
               .filter(Q(refresh_lock_until__isnull=True) | Q(refresh_lock_until__lt=now))
               .update(refresh_lock_until=now + REFRESH_LEASE))
        if won:
            break
        if time.monotonic() > deadline:
            raise BadGateway(f"MCP server {server.name}: another token refresh is still running.")
        time.sleep(0.2)
    try:
        return _refresh_locked(server.pk, stale_token)
    finally:
        MCPServer.objects.filter(pk=server.pk).update(refresh_lock_until=None)


def _refresh_locked(server_id: str, stale_token: str) -> MCPServer:
    server = MCPServer.objects.get(pk=server_id)
    if _token_still_good(server, stale_token):  # someone finished between our read and our lease
        return server
    refresh = decrypt(server.oauth_refresh_token)
    if not refresh or not server.oauth_token_endpoint:
        raise Conflict(f"MCP server {server.name} needs authorization again: connect it.")
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": server.oauth_client_id}
    if server.oauth_resource:
        form["resource"] = server.oauth_resource
    try:
        tokens = _token_request(server.oauth_token_endpoint, form, server.oauth_client_id,
                                decrypt(server.oauth_client_secret))
    except BadGateway as exc:
        if (exc.details or {}).get("oauth_error") not in ("invalid_grant", "invalid_client", "unauthorized_client"):
            raise
        # The grant is gone (revoked, expired, reused): only a new authorization helps.
        MCPServer.objects.filter(pk=server.pk).update(
            oauth_access_token="", oauth_refresh_token="", oauth_token_expires_at=None,
            last_error=str(exc.detail)[:500], updated_at=timezone.now())
        raise Conflict(f"MCP server {server.name} needs authorization again: connect it.") from None
    _store_tokens(server, tokens)
    server.save(update_fields=["oauth_access_token", "oauth_refresh_token", "oauth_token_expires_at",
                               "oauth_scope", "last_error", "updated_at"])
    return server


def _with_session(server: MCPServer, work: Callable[[wire.Session], T]) -> T:
    """Open a session with a fresh token and run `work`; on 401 refresh once and retry."""
    oauth = server.auth_mode == MCPServer.AuthMode.OAUTH_PKCE
    if oauth and not server.oauth_access_token and not server.oauth_refresh_token:
        raise Conflict(f"MCP server {server.name} is not authorized yet: connect it first.")
    check_server_url(server.url)  # the egress rules may have changed since it was added
    if oauth and (_needs_refresh(server) or not server.oauth_access_token):
        server = mcp_token_refresh(server=server, stale_token=decrypt(server.oauth_access_token))
    for attempt in (1, 2):
        token = decrypt(server.oauth_access_token) if server.auth_mode == MCPServer.AuthMode.OAUTH_PKCE else ""
        session = wire.Session(server.url, token=token)
        try:
            session.initialize()
            return work(session)
        except wire.McpUnauthorized:
            if attempt == 2 or server.auth_mode != MCPServer.AuthMode.OAUTH_PKCE:
                raise Conflict(f"MCP server {server.name} refused the token: connect it again.") from None
            server = mcp_token_refresh(server=server, stale_token=token)
        except wire.McpError as exc:
            raise _remote(exc) from None
    raise AssertionError("unreachable")


def mcp_list_tools(*, server: MCPServer) -> list[dict[str, Any]]:
    """The server's tools (`tools/list`, all pages); remembered as the server's snapshot."""
    tools = _with_session(server, lambda s: s.list_tools())
    snapshot = [{"name": str(t["name"]), "description": str(t.get("description") or "")[:2000],
                 "inputSchema": t.get("inputSchema") if isinstance(t.get("inputSchema"), dict) else
                 {"type": "object"}} for t in tools]
    MCPServer.objects.filter(pk=server.pk).update(tools_snapshot=snapshot, last_error="")
    server.tools_snapshot = snapshot
    return snapshot


def mcp_call_tool(*, server: MCPServer, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return _with_session(server, lambda s: s.call_tool(name, arguments))
