"""The wire side of Takos as an MCP client: streamable-HTTP JSON-RPC and OAuth discovery.

Every outbound request goes through the egress guard (`hosts.egress.fetch`): the address is
checked before connecting (loopback and private networks refused unless the operator allows
them in TAKOS_EGRESS_ALLOWED_HOSTS) and the connection is pinned to the checked address.
Redirects are never followed. Nothing here touches the database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings

from hosts.egress import EgressRefused, EgressResponse, fetch

PROTOCOL_VERSION = "2025-06-18"
CLIENT_INFO = {"name": "takos", "version": "1.0"}
ACCEPT = "application/json, text/event-stream"
MAX_TOOL_PAGES = 20


class McpError(Exception):
    """The server could not be reached or answered something unusable (API: 502)."""


class McpUnauthorized(McpError):
    """The server answered 401: `resource_metadata` is the RFC 9728 URL it named, if any."""

    def __init__(self, message: str, *, resource_metadata: str = "", scope: str = ""):
        super().__init__(message)
        self.resource_metadata = resource_metadata
        self.scope = scope


class McpRpcError(McpError):
    """A JSON-RPC error object from the server."""


def _timeout() -> float:
    return float(settings.TAKOS_MCP_TIMEOUT)


def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
         keep_headers: tuple[str, ...] = ()) -> EgressResponse:
    try:
        return fetch(method=method, url=url, headers=headers, body=body, timeout=_timeout(),
                     keep_headers=keep_headers)
    except EgressRefused as exc:
        raise McpError(str(exc)) from None


def get_json(url: str) -> dict[str, Any] | None:
    """GET a metadata document; None when it is not there (404, not JSON, not an object)."""
    response = http("GET", url, headers={"Accept": "application/json"})
    if response.status != 200:
        return None
    try:
        data = json.loads(response.body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def post_form(url: str, form: dict[str, str], *, basic: tuple[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if basic:
        import base64

        pair = f"{basic[0]}:{basic[1]}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    response = http("POST", url, headers=headers, body=urlencode(form).encode())
    try:
        data = json.loads(response.body)
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = http("POST", url, headers={"Content-Type": "application/json", "Accept": "application/json"},
                     body=json.dumps(body).encode())
    try:
        data = json.loads(response.body)
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


# --- WWW-Authenticate (RFC 6750 §3 / RFC 9728 §5.1) ----------------------------------------------
_PARAM_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def bearer_params(header: str) -> dict[str, str]:
    """Parameters of the Bearer challenge in a WWW-Authenticate header."""
    lower = header.lower()
    start = lower.find("bearer")
    if start < 0:
        return {}
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in _PARAM_RE.finditer(header[start + 6:])}


# --- discovery ------------------------------------------------------------------------------------
def _well_known(url: str, name: str) -> str:
    """RFC 8414 / 9728 path insertion: https://h/p → https://h/.well-known/<name>/p."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", ""))


def normalize_url(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "", parts.query, ""))


@dataclass
class AuthServer:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str = ""
    scopes_supported: list[str] = field(default_factory=list)


@dataclass
class Discovery:
    resource: str
    auth_server: AuthServer
    scopes: list[str]


def discover(server_url: str, challenge: McpUnauthorized) -> Discovery:
    """From a 401 to the authorization server, as MCP clients do (MCP authorization spec).

    1. RFC 9728 protected-resource metadata: the URL named in the challenge, else the
       well-known URL derived from the server URL (path-inserted, then at the root).
    2. Its `resource` must be the server URL or a prefix of it (RFC 9728 §3.3).
    3. RFC 8414 metadata of the first authorization server (OIDC discovery as fallback); it
       must name itself as `issuer` and offer PKCE S256.
    """
    candidates = [challenge.resource_metadata] if challenge.resource_metadata else []
    candidates += [_well_known(server_url, "oauth-protected-resource"),
                   _well_known(urlunsplit(urlsplit(server_url)._replace(path="")), "oauth-protected-resource")]
    prm = None
    for candidate in candidates:
        prm = get_json(candidate)
        if prm is not None:
            break
    if prm is None:
        raise McpError("The server asks for authorization but publishes no protected-resource metadata.")
    resource = str(prm.get("resource") or "")
    want = normalize_url(server_url)
    if not resource or not (want == normalize_url(resource) or want.startswith(normalize_url(resource) + "/")):
        raise McpError(f"The protected-resource metadata names another resource ({resource!r}).")
    servers = prm.get("authorization_servers") or []
    if not servers or not isinstance(servers, list):
        raise McpError("The protected-resource metadata names no authorization server.")
    auth_server = authorization_server(str(servers[0]))
    scopes = challenge.scope.split() if challenge.scope else [str(s) for s in prm.get("scopes_supported") or []]
    return Discovery(resource=resource, auth_server=auth_server, scopes=scopes)


def authorization_server(issuer: str) -> AuthServer:
    meta = get_json(_well_known(issuer, "oauth-authorization-server"))
    if meta is None:
        meta = get_json(_well_known(issuer, "openid-configuration"))
    if meta is None:
        meta = get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if meta is None:
        raise McpError(f"No authorization server metadata at {issuer}.")
    # RFC 8414 §3.3: the issuer in the document must be the one we asked about (mix-up defence).
    if normalize_url(str(meta.get("issuer") or "")) != normalize_url(issuer):
        raise McpError("The authorization server metadata names a different issuer.")
    methods = meta.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise McpError("The authorization server does not support PKCE S256.")
    if not meta.get("authorization_endpoint") or not meta.get("token_endpoint"):
        raise McpError("The authorization server metadata lacks its endpoints.")
    return AuthServer(issuer=str(meta["issuer"]), authorization_endpoint=str(meta["authorization_endpoint"]),
                      token_endpoint=str(meta["token_endpoint"]),
                      registration_endpoint=str(meta.get("registration_endpoint") or ""),
                      scopes_supported=[str(s) for s in meta.get("scopes_supported") or []])


def register_client(auth_server: AuthServer, *, redirect_uri: str, scope: str) -> tuple[str, str]:
    """RFC 7591 dynamic registration as a public client (PKCE); returns (client_id, secret)."""
    body = {"client_name": "Takos", "redirect_uris": [redirect_uri], "grant_types": ["authorization_code",
            "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none"}
    if scope:
        body["scope"] = scope
    status, data = post_json(auth_server.registration_endpoint, body)
    if status not in (200, 201) or not data.get("client_id"):
        detail = data.get("error_description") or data.get("error") or f"HTTP {status}"
        raise McpError(f"Dynamic client registration failed: {detail}")
    return str(data["client_id"]), str(data.get("client_secret") or "")


# --- JSON-RPC over streamable HTTP ----------------------------------------------------------------
def _sse_messages(body: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    data: list[str] = []
    for line in [*body.splitlines(), ""]:
        if line == "":
            if data:
                try:
                    item = json.loads("\n".join(data))
                except ValueError:
                    item = None
                if isinstance(item, dict):
                    out.append(item)
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
    return out


class Session:
    """One MCP session against one server: `initialize` first, then requests.

    `token` is sent as a Bearer token. A 401 raises McpUnauthorized (the caller refreshes
    and opens a new session).
    """

    def __init__(self, url: str, *, token: str = ""):
        self.url = url
        self.token = token
        self.session_id = ""
        self.protocol_version = PROTOCOL_VERSION
        self.next_id = 1
        self.server_info: dict[str, Any] = {}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.server_info:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _send(self, message: dict[str, Any]) -> EgressResponse:
        response = http("POST", self.url, headers=self._headers(), body=json.dumps(message).encode(),
                        keep_headers=("www-authenticate", "mcp-session-id"))
        if response.status == 401:
            params = bearer_params(_header(response, "www-authenticate"))
            raise McpUnauthorized("The MCP server needs authorization.",
                                  resource_metadata=params.get("resource_metadata", ""), scope=params.get("scope", ""))
        return response

    def _rpc(self, method: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], EgressResponse]:
        request_id = self.next_id
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        response = self._send(message)
        if response.status == 404 and self.session_id:
            raise McpError("The MCP session expired.")
        if not 200 <= response.status < 300:
            raise McpError(f"The MCP server answered HTTP {response.status} to {method}.")
        content_type = _header(response, "content-type").split(";")[0].strip().lower()
        text = response.body.decode("utf-8", errors="replace")
        if content_type == "text/event-stream":
            candidates: list[Any] = _sse_messages(text)
        else:
            try:
                parsed = json.loads(text)
            except ValueError:
                raise McpError(f"The server answered {method} with something that is not JSON-RPC; "
                               "is this an MCP endpoint?") from None
            candidates = parsed if isinstance(parsed, list) else [parsed]
        reply = next((m for m in candidates if isinstance(m, dict) and m.get("id") == request_id), None)
        if reply is None:
            raise McpError(f"The server sent no JSON-RPC answer to {method}; is this an MCP endpoint?")
        if reply.get("error"):
            error = reply["error"] if isinstance(reply["error"], dict) else {"message": str(reply["error"])}
            raise McpRpcError(f"{method}: {error.get('message') or 'error'} (code {error.get('code')})")
        result = reply.get("result")
        return (result if isinstance(result, dict) else {}), response

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._rpc(method, params)[0]

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def initialize(self) -> dict[str, Any]:
        params = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
        result, response = self._rpc("initialize", params)
        self.session_id = _header(response, "mcp-session-id")
        self.protocol_version = str(result.get("protocolVersion") or PROTOCOL_VERSION)
        self.server_info = result.get("serverInfo") or {"name": "unknown"}
        self.notify("notifications/initialized")
        return result

    def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(MAX_TOOL_PAGES):
            result = self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools += [t for t in result.get("tools") or [] if isinstance(t, dict) and t.get("name")]
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return tools

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments})


def _header(response: EgressResponse, name: str) -> str:
    for key, value in response.headers.items():
        if key.lower() == name:
            return value
    return ""
