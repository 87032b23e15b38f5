"""Shared pieces of the deployment end-to-end tests (a real `manage.py up` server)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.workers.apps import app_files

SETUP = r"""
import json
from accounts.services import user_create
from auth_app.services import pat_create
u = user_create(username="alice", email="alice@example.com", password="correct horse battery")
print("JSON" + json.dumps({"token": pat_create(user=u, name="e2e").token}))
"""


def setup_alice(server: Any) -> str:
    out = server.manage("shell", "-c", SETUP)
    line = next(x for x in out.stdout.splitlines() if x.startswith("JSON"))
    return json.loads(line[4:])["token"]


def git(*args: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
                "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
                "GIT_COMMITTER_EMAIL": "a@example.com"})
    proc = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"git {args}: {proc.stdout}\n{proc.stderr}"


CLEANUP = r"""
from workers.models import Deployment
from workers.runtime import stop_runtime
for d in Deployment.objects.exclude(container_id=""):
    stop_runtime(d, reason="e2e teardown")
"""


def stop_runtimes(server: Any) -> None:
    """Runtimes are started in their own sessions/containers and outlive `up`: stop them explicitly."""
    server.manage("shell", "-c", CLEANUP, check=False)


def private_broker(tmp: Path, db_index: int) -> tuple[dict[str, str], subprocess.Popen | None]:
    """Env giving an e2e server a Redis of its own.

    With REDIS_URL set (CI), a separate database index, flushed first: start_takos otherwise
    puts every server of the session on the same index, and another live server's worker
    would take this server's tasks. Without it, a private redis-server on a free port when
    one is installed: kombu's filesystem transport can hand a worker a message file before
    its writer has filled it (the worker then dies on a JSONDecodeError), which a beat entry
    ticking every second makes likely. Else the embedded filesystem broker.
    """
    import shutil
    import socket

    if os.environ.get("REDIS_URL"):
        import redis

        url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{db_index}"
        redis.Redis.from_url(url).flushdb()
        return {"REDIS_URL": url, "CELERY_BROKER_URL": url}, None
    if not shutil.which("redis-server"):
        return {}, None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                url = f"redis://127.0.0.1:{port}/0"
                return {"REDIS_URL": url, "CELERY_BROKER_URL": url}, proc
        time.sleep(0.1)
    proc.kill()
    return {}, None


def stop_broker(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def premigrate(tmp: Path) -> None:
    """Migrate the SQLite data dir before `manage.py up`, whose 90 s readiness wait a loaded machine can miss."""
    import sys

    if os.environ.get("DATABASE_URL"):
        return  # start_takos creates a fresh PostgreSQL database itself
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "TAKOS_TEST_DB_NAME")}
    env["TAKOS_DATA_DIR"] = str(tmp / "data")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=600)


class Client:
    """API + dispatch client for one e2e server."""

    def __init__(self, server: Any, token: str, work: Path):
        self.server = server
        self.token = token
        self.work = work
        self.api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def create_repo(self, name: str) -> dict:
        resp = self.api.post("/api/spaces/me/repos", json={"name": name})
        assert resp.status_code == 201, resp.text
        return resp.json()["repository"]

    def push(self, repo: str, files: dict[str, str] | None = None, **app_kwargs: Any) -> None:
        """Commit `files` (default: the test app with `app_kwargs`) and push them to `repo`'s main."""
        src = self.work / repo
        if not (src / ".git").exists():
            src.mkdir(parents=True)
            git("init", "-q", cwd=src)
        for path, content in (files or app_files(name=repo, **app_kwargs)).items():
            (src / path).parent.mkdir(parents=True, exist_ok=True)
            (src / path).write_text(content)
        git("add", "-A", cwd=src)
        git("commit", "-q", "-m", f"v{app_kwargs.get('version', '')}", cwd=src)
        host = self.server.url.split("://", 1)[1]
        git("push", "-q", f"http://alice:{self.token}@{host}/git/alice/{repo}.git", "main", cwd=src)

    def deploy(self, repo_id: str, **extra: Any) -> dict:
        resp = self.api.post("/api/spaces/me/app-deployments", json={"repo_id": repo_id, "ref": "main", **extra})
        assert resp.status_code == 202, resp.text
        return resp.json()["data"]

    def deployment(self, deployment_id: str) -> dict:
        resp = self.api.get(f"/api/spaces/me/app-deployments/{deployment_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    def wait(self, deployment_id: str, statuses: tuple[str, ...], timeout: float = 90,
             during: Any = None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            data = self.deployment(deployment_id)
            if data["status"] in statuses:
                return data
            if data["status"] == "failed" and "failed" not in statuses:
                raise AssertionError(f"deployment failed: {data['step_error']}\n{self.server.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"deployment stuck in {data['status']}: {data}\n{self.server.log()[-3000:]}")
            if during:
                during()
            time.sleep(0.2)

    def app(self, host: str, path: str = "/", cookies: dict | None = None, *, front: bool = False) -> httpx.Response:
        """A request to the app at `host`: through web's dispatch middleware, or the dispatch front's port."""
        headers = {"Host": host}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        base = self.server.extra["dispatch_url"] if front else self.server.url
        return httpx.get(base + path, headers=headers, timeout=30)

    def version_at(self, host: str, *, front: bool = False) -> str:
        resp = self.app(host, front=front)
        assert resp.status_code == 200, resp.text
        return resp.json()["version"]
