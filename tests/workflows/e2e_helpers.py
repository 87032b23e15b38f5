"""Helpers for end-to-end workflow tests: sign-up with a token, git push, a real SSE reader."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from takos.cli.sse import parse_sse
from tests.repos.conftest import git


@dataclass
class User:
    api: httpx.Client
    username: str
    token: str


def signup(base: str, username: str) -> User:
    client = httpx.Client(base_url=base, timeout=30)
    csrf = client.get("/api/auth/csrf").json()["csrf_token"]
    response = client.post("/api/auth/signup", headers={"X-CSRFToken": csrf},
                           json={"username": username, "email": f"{username}@example.com",
                                 "password": "e2e pass phrase 42"})
    assert response.status_code == 201, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    token = client.post("/api/me/personal-access-tokens", json={"name": "e2e"}).json()["token"]
    return User(httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30), username, token)


def push(base: str, user: User, repo: str, workdir: Path, files: dict[str, str], message: str = "change",
         branch: str = "main") -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / ".git").exists():
        git("init", "-q", "-b", branch, cwd=workdir)
    for name, content in files.items():
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=workdir)
    git("commit", "-q", "-m", message, cwd=workdir)
    host = base.split("://", 1)[1]
    git("push", "-q", f"http://{user.username}:{user.token}@{host}/git/{user.username}/{repo}.git",
        f"HEAD:refs/heads/{branch}", cwd=workdir)
    return git("rev-parse", "HEAD", cwd=workdir).stdout.strip()


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]
    received: float


def sse(api: httpx.Client, path: str, *, last_event_id: int | None = None, timeout: float = 60) -> Iterator[SseEvent]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with api.stream("GET", path, headers=headers, timeout=httpx.Timeout(timeout, connect=5)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event_id, event, data in parse_sse(response.iter_lines()):
            yield SseEvent(event_id, event, data, time.time())


def wait_for(fn: Any, timeout: float = 60, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
