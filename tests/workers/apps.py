"""The tiny HTTP app the deployment tests ship (stdlib only, listens on $PORT)."""

from __future__ import annotations

APP_PY = r'''
import http.server, json, os

VERSION = "{version}"
HEALTH = "{health}"  # ok | fail | first (healthy once, then failing)
state = {{"health": 0}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", VERSION)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            state["health"] += 1
            ok = HEALTH == "ok" or (HEALTH == "first" and state["health"] <= 1)
            return self._send(200 if ok else 500, b"ok" if ok else b"unhealthy")
        if self.path == "/boom":
            return self._send(500, b"boom")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        out = {{"version": VERSION, "path": self.path, "method": self.command, "body_len": len(body),
               "env": os.environ.get("GREETING", ""), "headers": {{k.lower(): v for k, v in self.headers.items()}}}}
        self._send(200, json.dumps(out).encode(), "application/json")

    do_POST = do_GET


host = "0.0.0.0" if os.environ.get("TAKOS_LISTEN_ALL") else "127.0.0.1"
http.server.ThreadingHTTPServer((host, int(os.environ["PORT"])), Handler).serve_forever()
'''

MANIFEST = """apiVersion: takos.dev/v1alpha1
kind: App
metadata:
  name: {name}
spec:
  version: "{version}"
  workers:
    web:
      run: python3 app.py
      port: 8080
      healthCheck:
        path: /health
        timeout: 2
        startTimeout: 30
      env:
        GREETING: hello
  routes:
    - name: web
      target: web
      path: /
  rollout:
    strategy: {strategy}
    steps: [{steps}]
    interval: {interval}
    minRequests: 5
"""


def app_files(*, name: str = "hello", version: str = "1", health: str = "ok", strategy: str = "immediate",
              steps: str = "50, 100", interval: float = 1) -> dict[str, str]:
    return {
        "app.py": APP_PY.format(version=version, health=health),
        ".takos/app.yml": MANIFEST.format(name=name, version=version, strategy=strategy, steps=steps,
                                          interval=interval),
    }


BUILD_WORKFLOW = r"""name: build
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: default
    steps:
      - uses: takos/checkout@v1
      - run: mkdir -p dist && sed "s/__BUILT__/built-by-run-$GITHUB_RUN_NUMBER/" app.py.in > dist/app.py
      - uses: takos/upload-artifact@v1
        with: {name: dist, path: dist}
"""

WORKFLOW_MANIFEST = """apiVersion: takos.dev/v1alpha1
kind: App
metadata:
  name: {name}
spec:
  version: "1"
  workers:
    web:
      build:
        fromWorkflow: {{path: .takos/workflows/build.yml, job: build, artifact: dist, artifactPath: dist}}
      run: python3 dist/app.py
      healthCheck: {{path: /health, timeout: 2, startTimeout: 30}}
  routes:
    - {{name: web, target: web, path: /}}
"""


def workflow_app_files(*, name: str) -> dict[str, str]:
    """An app whose runnable file exists only in a workflow artifact: the repository holds a template
    (`app.py.in`) that the `build` job turns into `dist/app.py` and uploads as artifact `dist`."""
    return {
        "app.py.in": APP_PY.format(version="__BUILT__", health="ok"),
        ".takos/workflows/build.yml": BUILD_WORKFLOW,
        ".takos/app.yml": WORKFLOW_MANIFEST.format(name=name),
    }
