"""The deployment flow on real Docker containers (TAKOS_CONTAINER_DRIVER=docker, image takos-runtime).

Skipped only when the Docker engine is unreachable (CI starts it and turns skips into failures).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.fixtures.processes import start_takos, stop_takos
from tests.workers.e2e_helpers import (
    Client,
    premigrate,
    private_broker,
    setup_alice,
    stop_broker,
    stop_runtimes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _docker():  # type: ignore[no-untyped-def]
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get("takos-runtime:latest")
        return client
    except Exception as exc:  # engine down or image not built
        pytest.skip(f"Docker engine or takos-runtime image unavailable: {exc}")


@pytest.fixture(scope="module")
def docker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, object]]:
    engine = _docker()
    tmp = tmp_path_factory.mktemp("deploy-docker")
    premigrate(tmp)
    broker_env, broker = private_broker(tmp, 12)
    running, db_name = start_takos(tmp, {"TAKOS_CONTAINER_DRIVER": "docker", "TAKOS_ROLLOUT_TICK_SECONDS": "1",
                                         **broker_env})
    try:
        yield Client(running, setup_alice(running), tmp / "work"), engine
    finally:
        stop_runtimes(running)
        stop_takos(running, db_name)
        stop_broker(broker)


def test_deploy_canary_and_rollback_on_docker(docker_server):  # type: ignore[no-untyped-def]
    c, engine = docker_server
    repo = c.create_repo("dockhello")
    host = "dockhello.apps.localhost"
    c.push("dockhello", version="1")
    d1 = c.wait(c.deploy(repo["id"])["id"], ("active",), timeout=120)
    assert c.version_at(host) == "1"
    containers = engine.containers.list(filters={"label": f"takos.owner=deployment:{d1['id']}"})
    assert len(containers) == 1 and containers[0].image.tags[0].startswith("takos-runtime")

    c.push("dockhello", version="2", strategy="canary", steps="50, 100", interval=3)
    d2 = c.deploy(repo["id"])
    seen: Counter[str] = Counter()
    c.wait(d2["id"], ("active",), timeout=120, during=lambda: seen.update([c.version_at(host)]))
    assert seen["1"] and seen["2"], seen
    assert {c.version_at(host) for _ in range(10)} == {"2"}

    started = time.monotonic()
    resp = c.api.post(f"/api/spaces/me/app-deployments/{d2['id']}/rollback")
    assert resp.status_code == 200, resp.text
    assert c.version_at(host) == "1"
    assert time.monotonic() - started < 1.0
