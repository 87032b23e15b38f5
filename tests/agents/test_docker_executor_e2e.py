"""Runs executed in a real Docker executor container (`takos-executor`, host networking): the
platform (`manage.py up`) runs with TAKOS_CONTAINER_DRIVER=docker, the executor calls back the
control plane on 127.0.0.1 with its proxy token, and a cancel kills the container.

The model is the built-in offline provider (no network). Marked `docker`: skipped only when the
engine is unreachable (CI has one, and there a skip is a failure)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.agents.e2e_helpers import TERMINAL, read_until_terminal, sse, start_run, user_api, wait_status
from tests.fixtures.processes import RunningTakos, start_takos, stop_takos

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _containers(run_id: str, *, all: bool = True) -> list:
    import docker

    client = docker.from_env()
    try:
        # sparse: no inspect per container, which raced with a container being removed meanwhile.
        return client.containers.list(all=all, filters={"label": f"takos.run={run_id}"}, sparse=True)
    finally:
        client.close()


@pytest.fixture(scope="module")
def docker_takos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTakos]:
    from tests.hosts.helpers import docker_driver_or_skip, ensure_image

    docker_driver_or_skip()
    ensure_image("executor")
    running, db_name = start_takos(tmp_path_factory.mktemp("takos-docker"),
                                   {"TAKOS_CONTAINER_DRIVER": "docker", "TAKOS_WORKER_CONCURRENCY": "2"})
    try:
        yield running
    finally:
        stop_takos(running, db_name)


@pytest.fixture(scope="module")
def api(docker_takos: RunningTakos) -> httpx.Client:
    return user_api(docker_takos.url, "dockerrunner")


@pytest.fixture
def thread_id(api: httpx.Client) -> str:
    response = api.post("/api/spaces/me/threads", json={"title": "docker e2e"})
    assert response.status_code == 201
    return response.json()["thread"]["id"]


def test_a_run_executes_in_a_docker_executor_container(api, thread_id, docker_takos):
    run = start_run(api, thread_id, "remember: the executor ran in docker\n/slow 1.5")
    seen: list = []
    for item in sse(api, f"/api/runs/{run['id']}/sse", timeout=120):
        seen.append(item)
        if item.event == "message":
            break
    # While it streams, the run's executor is a running takos-executor container on the host network.
    [container] = _containers(run["id"], all=False)
    container.reload()  # the full attributes (the list is sparse)
    image_tags = container.image.tags
    config = container.attrs["HostConfig"]
    assert "takos-executor:latest" in image_tags, image_tags
    assert config["NetworkMode"] == "host" and config["ReadonlyRootfs"] is True
    source = [m for m in container.attrs["Mounts"] if m["Destination"] == "/opt/takos/src/agents"]
    assert source and source[0]["RW"] is False  # only the loop's package, read-only
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["TAKOS_PROXY_URL"] == docker_takos.url and env["TAKOS_PROXY_TOKEN"].startswith("tak_pxy_")
    assert "DATABASE_URL" not in env and "SECRET_KEY" not in env and "DJANGO_SECRET_KEY" not in env

    events = seen + read_until_terminal(api, run["id"], last_event_id=seen[-1].id, timeout=120)
    ids = [e.id for e in events]
    assert ids == list(range(1, len(ids) + 1)) and events[-1].event == "completed", [e.event for e in events]
    types = [e.event for e in events]
    assert "tool_call" in types and "tool_result" in types
    # The tool call went through the proxy token's RPC: the memory exists, written once.
    memories = api.get("/api/spaces/me/memories").json()["memories"]
    assert [m["content"] for m in memories].count("the executor ran in docker") == 1
    done = api.get(f"/api/runs/{run['id']}").json()["run"]
    assert done["status"] == "completed" and done["usage"]["outputTokens"] > 0
    # The container is removed once the run ends.
    deadline = time.monotonic() + 20
    while _containers(run["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _containers(run["id"]) == []


def test_cancel_kills_the_docker_executor(api, thread_id):
    run = start_run(api, thread_id, "/slow 60")
    cancelled_at = None
    events = []
    for item in sse(api, f"/api/runs/{run['id']}/sse", timeout=120):
        events.append(item)
        if item.event == "message" and cancelled_at is None:
            assert len(_containers(run["id"], all=False)) == 1  # the executor is running now
            cancelled_at = time.monotonic()
            assert api.post(f"/api/runs/{run['id']}/cancel").status_code == 200
        if item.event in TERMINAL:
            break
    assert events[-1].event == "cancelled" and time.monotonic() - cancelled_at < 2.0
    # The container is gone (stopped and removed) within seconds, and no event follows the terminal one.
    deadline = time.monotonic() + 10
    while _containers(run["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _containers(run["id"]) == [], "the executor container outlived its cancelled run"
    gone_after = time.monotonic() - cancelled_at
    assert gone_after < 5.0, gone_after
    tail = api.get(f"/api/runs/{run['id']}/events").json()
    assert tail["events"][-1]["type"] == "cancelled" and tail["run_status"] == "cancelled"
    assert wait_status(api, run["id"], {"cancelled"})["status"] == "cancelled"
