"""Browser login: a one-shot loopback server receives a new PAT from /auth/cli."""

from __future__ import annotations

import secrets
import socket
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode

from takos.cli.client import CliError


class _Handler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(min(length, 16384)).decode())
        token, state = form.get("token", [""])[0], form.get("state", [""])[0]
        ok = bool(token) and secrets.compare_digest(state, self.server.expected_state)
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        text = "Signed in. You can close this tab and return to the terminal." if ok else "Login failed: state mismatch."
        self.wfile.write(f"<!doctype html><title>takos</title><p>{text}</p>".encode())
        if ok:
            self.server.token = token
            self.server.done.set()

    def log_message(self, *args: object) -> None:  # keep the terminal quiet
        pass


class _CallbackServer(HTTPServer):
    def __init__(self, state: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.expected_state = state
        self.token: str | None = None
        self.done = threading.Event()


def browser_login(base_url: str, *, open_browser: bool = True, timeout: float = 300,
                  announce=print) -> str:  # type: ignore[no-untyped-def]
    state = secrets.token_urlsafe(24)
    server = _CallbackServer(state)
    port = server.server_address[1]
    query = urlencode({"callback": f"http://127.0.0.1:{port}/callback", "state": state,
                       "hostname": socket.gethostname()[:60]})
    url = f"{base_url}/auth/cli?{query}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    announce(f"Open this URL to sign in (waiting {int(timeout)} s):\n  {url}")
    if open_browser:
        webbrowser.open(url)
    try:
        if not server.done.wait(timeout):
            raise CliError("timed out waiting for the browser sign-in")
    finally:
        server.shutdown()
        server.server_close()
    assert server.token is not None
    return server.token
