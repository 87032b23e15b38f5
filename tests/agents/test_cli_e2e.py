"""`takos threads` / `takos runs` against the real server, including a follow that survives a
dropped connection (a loopback TCP proxy cuts the first SSE connection mid-run)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from urllib.parse import urlsplit

import pytest

from tests.agents.e2e_helpers import user_api, wait_status

pytestmark = pytest.mark.e2e

def cli(url: str, token: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "TAKOS_URL": url, "TAKOS_TOKEN": token, "TAKOS_CONFIG": os.path.join(tempfile.mkdtemp(), "cli.json")}
    return subprocess.run([sys.executable, "-m", "takos.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)

class CuttingProxy:
    """Forwards 127.0.0.1:<port> to the server; the first stream response (GET .../sse or
    POST .../runs/stream) is cut after `cut_after` bytes."""

    def __init__(self, upstream: str, cut_after: int):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.cut_after = cut_after
        self.cuts = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        request = client.recv(65536)
        upstream.sendall(request)
        line = request.split(b"\r\n", 1)[0]
        cut = (b"/sse" in line or b"/runs/stream" in line) and self.cuts == 0
        if cut:
            self.cuts += 1

        def pump_up() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=pump_up, daemon=True).start()
        sent = 0
        try:
            while data := upstream.recv(4096):
                if cut and sent + len(data) > self.cut_after:
                    client.sendall(data[: self.cut_after - sent])
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.sock.close()

@pytest.fixture(scope="module")
def token(takos_server) -> str:
    api = user_api(takos_server.url, "cliagent")
    return api.headers["Authorization"].split()[1]

def test_threads_and_runs_commands(takos_server, token):
    created = cli(takos_server.url, token, "threads", "create", "From the CLI", "--json")
    assert created.returncode == 0, created.stderr
    thread_id = json.loads(created.stdout)["thread"]["id"]
    listed = cli(takos_server.url, token, "thread", "list")
    assert thread_id in listed.stdout and "From the CLI" in listed.stdout
    run = cli(takos_server.url, token, "runs", "start", thread_id, "hello", "cli", "--follow")
    assert run.returncode == 0, run.stderr
    assert run.stdout == 'Offline model reply: you said "hello cli".'
    started = json.loads(cli(takos_server.url, token, "run", "create", thread_id, "/slow 30", "--json").stdout)
    run_id = started["run"]["id"]

    cancelled = cli(takos_server.url, token, "runs", "cancel", run_id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    again = cli(takos_server.url, token, "runs", "cancel", run_id)
    assert again.returncode == 1 and "already cancelled" in again.stderr

def test_follow_resumes_after_a_dropped_connection(takos_server, token):
    import httpx

    api = httpx.Client(base_url=takos_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    thread_id = api.post("/api/spaces/me/threads", json={"title": "resume"}).json()["thread"]["id"]
    run = api.post(f"/api/threads/{thread_id}/runs", json={"input": {"message": "/slow 2"}}).json()["run"]
    proxy = CuttingProxy(takos_server.url, cut_after=1500)
    try:
        followed = cli(proxy.url, token, "runs", "follow", run["id"])
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert followed.returncode == 0, followed.stderr
    assert "connection lost" in followed.stderr and "resuming after event" in followed.stderr
    final = wait_status(api, run["id"], {"completed"})
    assert followed.stdout == final["output"]  # every delta exactly once, in order


def test_start_follow_creates_and_streams_in_one_request_and_resumes(takos_server, token):
    """`runs start --follow` uses POST .../runs/stream; a cut stream resumes with Last-Event-ID."""
    import httpx

    api = httpx.Client(base_url=takos_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    thread_id = api.post("/api/spaces/me/threads", json={"title": "start-follow"}).json()["thread"]["id"]
    proxy = CuttingProxy(takos_server.url, cut_after=1500)
    try:
        started = cli(proxy.url, token, "runs", "start", thread_id, "/slow 2", "--follow")
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert started.returncode == 0, started.stderr
    assert "connection lost" in started.stderr and "resuming after event" in started.stderr
    runs = api.get(f"/api/threads/{thread_id}/runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    assert started.stdout == runs[0]["output"]  # every delta exactly once, in order
    stranger = user_api(takos_server.url, "clistranger").headers["Authorization"].split()[1]
    refused = cli(takos_server.url, stranger, "runs", "start", thread_id, "hi", "--follow")
    assert refused.returncode != 0 and "not found" in refused.stderr.lower()
