"""Fixtures for the repos tests: a private git root per test, a git runner, a live server with personas."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _git_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = "tests.repos.urls"
    settings.TAKOS_GIT_ROOT = tmp_path / "gitroot"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "objects")}}}


def git_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "tester@example.com",
        "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "tester@example.com", "LC_ALL": "C",
    })
    env.update(extra)
    return env


def git(*args: str, cwd: Path | str | None = None, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    """Run the real git client; returns the process (text)."""
    proc = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "protocol.version=2", *args], cwd=cwd,
                          env=git_env(**extra), capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_project(path: Path, files: dict[str, str], message: str = "initial") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        git("init", "-q", cwd=path)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", message, cwd=path)
    return path


SETUP_CODE = r"""
import json
from accounts.models import Membership, User
from accounts.services import space_create, user_create
from auth_app.services import pat_create
from repos.services import repo_create
out = {}
users = {}
for name in ("alice", "bob", "charlie"):
    users[name] = user_create(username=name, email=f"{name}@example.com", password="correct horse battery")
    out[name] = pat_create(user=users[name], name="git").token
out["alice_read"] = pat_create(user=users["alice"], name="ro", scopes=["repos:read"]).token
team = space_create(owner=users["alice"], name="Team One", slug="team-one")
Membership.objects.create(space=team, user=users["bob"], role="viewer")
out["space_id"] = team.id
print("JSON" + json.dumps(out))
"""


@dataclass
class LiveGit:
    url: str
    tokens: dict[str, str]
    space_id: str
    server: object

    def remote(self, owner: str, repo: str, user: str | None = None) -> str:
        host = self.url.split("://", 1)[1]
        if user is None:
            return f"http://{host}/git/{owner}/{repo}.git"
        return f"http://{user}:{self.tokens[user]}@{host}/git/{owner}/{repo}.git"

    def api(self, user: str | None = None):  # type: ignore[no-untyped-def]
        import httpx

        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def live_git(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A real daphne serving Takos (repos-only URLconf, see e2e_settings.py) on SQLite in a temp dir.

    Personas: alice owns team-one, bob is a viewer there, charlie is outside. The pack limit is
    lowered to 5 MB so the limit test stays small.
    """
    import signal
    import sys
    import time

    import httpx

    tmp = tmp_path_factory.mktemp("repos-e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TAKOS_TEST_DB_NAME", "REDIS_URL")}
    env.update({"TAKOS_DATA_DIR": str(tmp / "data"), "DJANGO_SETTINGS_MODULE": "tests.repos.e2e_settings",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", "CELERY_TASK_ALWAYS_EAGER": "1",
                "TAKOS_GIT_MAX_PACK_BYTES": str(5 * 1024 * 1024)})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    setup = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP_CODE], cwd=ROOT, env=env,
                           check=True, capture_output=True, text=True, timeout=120)
    line = next(x for x in setup.stdout.splitlines() if x.startswith("JSON"))
    data = json.loads(line[4:])
    log = (tmp / "daphne.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "takos.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "daphne.log").read_text())
        time.sleep(0.2)
    tokens = {k: v for k, v in data.items() if k != "space_id"}
    try:
        yield LiveGit(url=url, tokens=tokens, space_id=data["space_id"], server=tmp)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
