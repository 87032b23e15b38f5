"""A tiny real MCP server for tests: streamable-HTTP JSON-RPC on 127.0.0.1, in a thread.

It stands in for an external MCP server (we cannot reach real ones from tests). With
`authorization_server` set it is an OAuth resource server as the MCP authorization spec
describes: a request without a valid bearer token gets 401 with
`WWW-Authenticate: Bearer resource_metadata=...`, its RFC 9728 metadata names the
authorization server, and it checks each token by calling that server's `/oauth/userinfo`
(Takos's own provider in the tests), so a revoked or expired token is refused for real.

Tools: `echo {text}` (answers as JSON) and `whoami` (answered as an SSE stream), listed on
two pages (`nextCursor`) so clients must follow pagination; `fail` reports `isError`.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

TOOLS_PAGE_1 = [{"name": "echo", "description": "Echo the text back.",
                 "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]
TOOLS_PAGE_2 = [{"name": "whoami", "description": "Who the token belongs to.",
                 "inputSchema": {"type": "object", "properties": {}}},
                {"name": "fail", "description": "Always reports an error.", "inputSchema": {"type": "object"}}]


@dataclass
class McpTestServer:
    authorization_server: str | None = None
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile"])
    tokens_seen: list[str] = field(default_factory=list)
    unauthorized: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/oauth-protected-resource/mcp"

    def start(self) -> McpTestServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                      content_type: str = "application/json") -> None:
                raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if raw:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-protected-resource/mcp" and owner.authorization_server:
                    self._send(200, {"resource": owner.url, "authorization_servers": [owner.authorization_server],
                                     "scopes_supported": owner.scopes, "bearer_methods_supported": ["header"]})
                elif self.path == "/page":
                    self._send(200, b"<html>not an MCP server</html>", content_type="text/html")
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/page":
                    self._send(200, b"<html>not an MCP server</html>", content_type="text/html")
                    return
                if self.path != "/mcp":
                    self._send(404, {"error": "not found"})
                    return
                user = None
                if owner.authorization_server:
                    user = self._check_token()
                    if user is None:
                        owner.unauthorized += 1
                        self._send(401, {"error": "invalid_token"}, headers={
                            "WWW-Authenticate": f'Bearer resource_metadata="{owner.metadata_url}", '
                                                f'scope="{" ".join(owner.scopes)}"'})
                        return
                message = json.loads(raw or b"{}")
                self._rpc(message, user or {})

            def _check_token(self) -> dict[str, Any] | None:
                header = self.headers.get("Authorization") or ""
                if not header.startswith("Bearer "):
                    return None
                token = header[7:]
                owner.tokens_seen.append(token)
                # The authorization server decides: a revoked or expired token fails userinfo.
                answer = httpx.get(f"{owner.authorization_server}/oauth/userinfo",
                                   headers={"Authorization": header}, timeout=20)
                return answer.json() if answer.status_code == 200 else None

            def _rpc(self, message: dict[str, Any], user: dict[str, Any]) -> None:
                method, request_id = message.get("method"), message.get("id")
                params = message.get("params") or {}
                if request_id is None:  # a notification
                    self._send(202)
                    return
                if method != "initialize" and self.headers.get("Mcp-Session-Id") not in owner.sessions:
                    self._send(400, {"jsonrpc": "2.0", "id": request_id,
                                     "error": {"code": -32600, "message": "no session"}})
                    return
                headers: dict[str, str] = {}
                if method == "initialize":
                    session = secrets.token_hex(8)
                    owner.sessions.add(session)
                    headers["Mcp-Session-Id"] = session
                    result: dict[str, Any] = {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                                              "capabilities": {"tools": {}},
                                              "serverInfo": {"name": "test-mcp", "version": "0.1"}}
                elif method == "tools/list":
                    if params.get("cursor") == "page2":
                        result = {"tools": TOOLS_PAGE_2}
                    else:
                        result = {"tools": TOOLS_PAGE_1, "nextCursor": "page2"}
                elif method == "tools/call":
                    owner.calls.append(params)
                    name, args = params.get("name"), params.get("arguments") or {}
                    if name == "echo":
                        result = {"content": [{"type": "text", "text": f"echo: {args.get('text')}"}]}
                    elif name == "whoami":
                        body = {"jsonrpc": "2.0", "id": request_id, "result": {"content": [
                            {"type": "text", "text": f"you are {user.get('preferred_username', 'anonymous')}"}]}}
                        stream = f"event: message\ndata: {json.dumps(body)}\n\n".encode()
                        self._send(200, stream, content_type="text/event-stream")
                        return
                    elif name == "fail":
                        result = {"content": [{"type": "text", "text": "it broke"}], "isError": True}
                    else:
                        self._send(200, {"jsonrpc": "2.0", "id": request_id,
                                         "error": {"code": -32602, "message": f"Unknown tool {name}"}})
                        return
                else:
                    self._send(200, {"jsonrpc": "2.0", "id": request_id,
                                     "error": {"code": -32601, "message": "Method not found"}})
                    return
                self._send(200, {"jsonrpc": "2.0", "id": request_id, "result": result}, headers=headers)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
