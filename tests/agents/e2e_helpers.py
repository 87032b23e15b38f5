"""Helpers for end-to-end agent tests: sign-up, tokens, and a real SSE reader (httpx streaming)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from takos.cli.sse import parse_sse

TERMINAL = {"completed", "error", "cancelled", "run.failed"}


def user_api(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=20)
    csrf = client.get("/api/auth/csrf").json()["csrf_token"]
    response = client.post("/api/auth/signup", headers={"X-CSRFToken": csrf},
                           json={"username": username, "email": f"{username}@example.com",
                                 "password": "e2e pass phrase 42"})
    assert response.status_code == 201, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    token = client.post("/api/me/personal-access-tokens", json={"name": "e2e"}).json()["token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20)


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]
    received: float  # time.time() when the frame was complete


def sse(api: httpx.Client, path: str, *, last_event_id: int | None = None, timeout: float = 30,
        comments: list[str] | None = None) -> Iterator[SseEvent]:
    """Yield events from a real SSE response until the server closes it."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with api.stream("GET", path, headers=headers, timeout=httpx.Timeout(timeout, connect=5)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event_id, event, data in parse_sse(response.iter_lines(), comments=comments):
            yield SseEvent(event_id, event, data, time.time())


def read_until_terminal(api: httpx.Client, run_id: str, **kwargs: Any) -> list[SseEvent]:
    out = []
    for item in sse(api, f"/api/runs/{run_id}/sse", **kwargs):
        out.append(item)
        if item.event in TERMINAL:
            break
    return out


def start_run(api: httpx.Client, thread_id: str, message: str, **extra: Any) -> dict[str, Any]:
    response = api.post(f"/api/threads/{thread_id}/runs", json={"input": {"message": message}, **extra})
    assert response.status_code == 201, response.text
    return response.json()["run"]


def wait_status(api: httpx.Client, run_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/api/runs/{run_id}").json()["run"]
        if run["status"] in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {statuses}: {run}")


def parse_ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
