"""Runtime container agent: answers health checks and heartbeats the control plane.

Listens on $PORT (127.0.0.1, or all interfaces when TAKOS_LISTEN_ALL=1 for bridge
networking). With TAKOS_PROXY_URL and TAKOS_PROXY_TOKEN set it posts a heartbeat to
/internal/sessions/<TAKOS_SESSION_ID>/heartbeat every TAKOS_HEARTBEAT_SECONDS.
Standard library only: the image may have nothing else.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
# A warm-pool container starts without a session; the control plane claims it later
# (POST /claim with the pool secret) and hands over the session id and proxy token.
STATE = {
    "session_id": os.environ.get("TAKOS_SESSION_ID", ""),
    "proxy_url": os.environ.get("TAKOS_PROXY_URL", "").rstrip("/"),
    "token": os.environ.get("TAKOS_PROXY_TOKEN", ""),
}
CLAIMED = threading.Event()
if STATE["session_id"]:
    CLAIMED.set()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/health", ""):
            body = json.dumps({
                "status": "ok",
                "session_id": STATE["session_id"],
                "workspace": os.environ.get("TAKOS_WORKSPACE", os.getcwd()),
                "uptime": round(time.time() - STARTED, 3),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_error(404)

    def do_POST(self) -> None:
        secret = os.environ.get("TAKOS_POOL_SECRET", "")
        if self.path != "/claim" or not secret or self.headers.get("X-Takos-Pool-Secret") != secret:
            self.send_error(404)
            return
        if CLAIMED.is_set():
            self.send_error(409)
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        STATE.update({k: str(data.get(k, "")) for k in ("session_id", "proxy_url", "token")})
        STATE["proxy_url"] = STATE["proxy_url"].rstrip("/")
        CLAIMED.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet: logs are captured by the host
        pass


def heartbeat_loop() -> None:
    interval = float(os.environ.get("TAKOS_HEARTBEAT_SECONDS", "30"))
    CLAIMED.wait()
    if not (STATE["proxy_url"] and STATE["token"] and STATE["session_id"]) or interval <= 0:
        return
    while True:
        time.sleep(interval)
        req = urllib.request.Request(
            f"{STATE['proxy_url']}/internal/sessions/{STATE['session_id']}/heartbeat", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {STATE['token']}", "Content-Type": "application/json"},
        )
        try:
            body = json.loads(urllib.request.urlopen(req, timeout=10).read() or b"{}")
            if body.get("token"):  # the control plane refreshed a token close to expiry
                STATE["token"] = body["token"]
        except Exception as exc:  # keep beating: the control plane may be restarting
            print(f"heartbeat failed: {exc}", flush=True)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    host = "0.0.0.0" if os.environ.get("TAKOS_LISTEN_ALL") == "1" else "127.0.0.1"
    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=heartbeat_loop, daemon=True).start()
    print(f"takos runtime agent on {host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
