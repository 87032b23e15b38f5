"""takos.queue: the direct publish is the message Celery itself writes (the run e2e tests on Redis
show a worker runs it; the embedded default keeps Celery's own publish)."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid

import pytest
import redis

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set in CI): the Redis broker")

VARYING = {("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"),
           ("properties", "delivery_tag")}


def _pop(client: redis.Redis, queue: str) -> dict:
    raw = client.rpop(queue)
    assert raw is not None, f"nothing on {queue}"
    return json.loads(raw)


def test_the_direct_message_is_the_one_celery_writes(settings, monkeypatch) -> None:
    from agents.tasks import execute_run
    from takos import queue
    from takos.celery import app

    settings.CELERY_BROKER_URL = app.conf.broker_url = os.environ["REDIS_URL"]
    monkeypatch.setattr(queue, "_client", None)  # the process's publisher, for this broker
    assert queue._redis() is not None
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    name = f"test-queue-{uuid.uuid4().hex[:8]}"
    kwargs = {"run_id": "abc123def456"}
    execute_run.apply_async(kwargs=kwargs, queue=name)
    queue.send(execute_run, kwargs, name)
    celery, direct = _pop(client, name), _pop(client, name)
    assert client.llen(name) == 0

    assert base64.b64decode(direct["body"]) == base64.b64decode(celery["body"])
    assert direct.keys() == celery.keys()
    for part in ("headers", "properties"):
        assert direct[part].keys() == celery[part].keys(), part
        for key, value in celery[part].items():
            if (part, key) not in VARYING:
                assert direct[part][key] == value, (part, key)
    assert direct["headers"]["id"] == direct["headers"]["root_id"] == direct["properties"]["correlation_id"]
    assert direct["properties"]["delivery_tag"] != celery["properties"]["delivery_tag"]
    assert {k: v for k, v in direct.items() if k not in ("headers", "properties", "body")} == {
        k: v for k, v in celery.items() if k not in ("headers", "properties", "body")}



def test_a_push_in_two_halves_leaves_at_the_first(settings, monkeypatch) -> None:
    """push_begin writes the LPUSH (the task is on the list before its reply is read); push_end
    reads the reply and gives the connection back, ready for the next command."""
    from agents.tasks import execute_run
    from takos import queue
    from takos.celery import app

    settings.CELERY_BROKER_URL = app.conf.broker_url = os.environ["REDIS_URL"]
    monkeypatch.setattr(queue, "_client", None)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    name = f"test-queue-{uuid.uuid4().hex[:8]}"
    pending = queue.push_begin(execute_run, {"run_id": "twohalves001"}, name)
    assert pending is not None
    for _ in range(100):  # Redis has it without our reading the reply
        if client.llen(name):
            break
        time.sleep(0.01)
    body = json.loads(base64.b64decode(json.loads(client.lindex(name, 0))["body"]))
    assert body[1] == {"run_id": "twohalves001"}
    queue.push_end(pending)
    assert queue._redis().lpush(name, b"next") == 2  # the connection is back in the pool, in step
    client.delete(name)
