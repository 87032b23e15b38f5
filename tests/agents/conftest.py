"""Fixtures for agents tests: threads, runs, and an in-process executor transport."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.test import Client

from accounts.selectors import personal_space
from agents import services
from agents.executor.loop import ControlClient
from agents.models import Run, Thread


class DjangoTransport:
    """The executor's HTTP transport, through Django's test client: same URLs, auth and views."""

    def __init__(self, token: str):
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post(path, data=json.dumps(body), content_type="application/json")
        return response.status_code, response.json()


def claim_for_executor(run: Run) -> ControlClient:
    """Take the lease the way the task does and hand back an executor client for it."""
    from hosts.services import issue_proxy_token

    lease = services.run_claim(run_id=run.id)
    assert lease is not None
    token = issue_proxy_token(owner=f"run:{run.id}", capabilities=["run-control"], ttl_seconds=600,
                              space=run.space, user=run.requester)
    return ControlClient(DjangoTransport(token), run_id=run.id, lease_version=lease[1])


@pytest.fixture
def alice_space(alice):  # type: ignore[no-untyped-def]
    return personal_space(alice)


@pytest.fixture
def thread(alice, alice_space) -> Thread:  # type: ignore[no-untyped-def]
    return services.thread_create(space=alice_space, actor=alice, title="Demo")


@pytest.fixture(autouse=True)
def _fast_offline(settings):  # type: ignore[no-untyped-def]
    settings.TAKOS_OFFLINE_TOKEN_DELAY_MS = 0


@pytest.fixture(scope="session")
def takos_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The shared `takos_server` (manage.py up), with the SQLite data dir migrated beforehand:
    on a loaded machine the full migration alone can exceed the fixture's 90 s readiness wait."""

    from tests.fixtures.processes import start_takos, stop_takos

    tmp = tmp_path_factory.mktemp("takos-agents")
    # start_takos copies a migrated template database, so no migrate is needed here.
    running, db_name = start_takos(tmp)
    try:
        yield running
    finally:
        stop_takos(running, db_name)


@pytest.fixture
def redis_broker(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """The Redis broker (tasks leave with one LPUSH, takos.queue), its `run` list emptied."""
    import redis

    from takos import queue
    from takos.celery import app

    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (set in CI): the Redis broker")
    settings.CELERY_BROKER_URL = app.conf.broker_url = os.environ["REDIS_URL"]
    monkeypatch.setattr(queue, "_client", None)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete("run")
    yield client
    client.delete("run")
