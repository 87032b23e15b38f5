"""One Celery task published with one Redis LPUSH, for the hottest enqueue (a run's start).

`apply_async` costs about 1 ms of CPU before its single LPUSH (a Redis client built per publish,
argument reprs, routing, producer pools), more on a busy web process, and a run start waits on
it. Here the message is the one Celery's protocol 2 writes to kombu's Redis transport for a
task with no options (tests/test_queue.py compares the two field by field), built in a few
microseconds and pushed with one long-lived client per process. The worker cannot tell them
apart. Other brokers (the embedded default's filesystem one) and eager mode use `apply_async`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

_client: tuple[int, redis.Redis | None] | None = None
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _redis() -> redis.Redis | None:
    global _client
    if _client is None or _client[0] != os.getpid():  # a forked process needs its own
        url = settings.CELERY_BROKER_URL
        client = None
        # Plain redis:// only: TLS (rediss://, broker_use_ssl) and sockets have options of their own
        # in kombu, and a key prefix renames the queue's list; those keep apply_async.
        if url.startswith("redis://") and not settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix"):
            client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        _client = (os.getpid(), client)
    return _client[1]


def message(task: Any, kwargs: dict[str, Any], queue: str) -> bytes:
    """The kombu Redis message of `task(**kwargs)` routed to `queue` (Celery task protocol 2)."""
    from takos.celery import app

    task_id = str(uuid.uuid4())
    body = json.dumps([[], kwargs, _EMBED]).encode()
    headers = {
        "lang": "py", "task": task.name, "id": task_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
        "parent_id": None, "argsrepr": "()", "kwargsrepr": repr(kwargs), "origin": _origin(),
        "ignore_result": bool(task.ignore_result), "replaced_task_nesting": 0,
        "stamped_headers": None, "stamps": {},
    }
    properties = {
        "correlation_id": task_id, "reply_to": app.thread_oid, "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0, "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    return json.dumps({"body": base64.b64encode(body).decode(), "content-encoding": "utf-8",
                       "content-type": "application/json", "headers": headers, "properties": properties}).encode()


def _origin() -> str:
    return f"gen{os.getpid()}@{socket.gethostname()}"  # what Celery's anon_nodename() gives


def send(task: Any, kwargs: dict[str, Any], queue: str) -> None:
    """Enqueue `task(**kwargs)` on `queue`: one LPUSH on the Redis broker, else `apply_async`."""
    if not push(task, kwargs, queue):
        task.apply_async(kwargs=kwargs, queue=queue)


def push(task: Any, kwargs: dict[str, Any], queue: str) -> bool:
    """The direct LPUSH of `send` when the broker allows it; False (nothing sent) otherwise: eager
    mode, which would run the task right here, and brokers other than plain Redis."""
    pending = push_begin(task, kwargs, queue)
    if pending is None:
        return False
    push_end(pending)
    return True


@dataclass
class Pending:
    """An LPUSH written to the broker whose reply is not read yet (`push_begin`)."""

    pool: redis.ConnectionPool
    connection: Any


def push_begin(task: Any, kwargs: dict[str, Any], queue: str) -> Pending | None:
    """`push` in two halves: the LPUSH is written now and its reply read by `push_end`, so the
    caller's work overlaps the round trip (~0.4 ms after idleness on a small VM). None (nothing
    sent) where `push` would not send. The caller must call `push_end`, which gives the
    connection back."""
    from takos.celery import app

    client = None if app.conf.task_always_eager else _redis()
    if client is None:
        return None
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("LPUSH", queue, message(task, kwargs, queue))
    except BaseException:
        pool.release(connection)  # redis-py closed it on the error: the pool opens a new one next time
        raise
    return Pending(pool, connection)


def push_end(pending: Pending) -> None:
    """Read the reply of `push_begin`'s LPUSH; raises when Redis refused it or the connection broke
    (then the task may not have left)."""
    try:
        pending.connection.read_response()
    finally:
        pending.pool.release(pending.connection)


def _abandoned_key(task_id: str) -> str:
    return f"takos:abandoned:{task_id}"


def mark_abandoned(task_id: str, seconds: int = 120) -> None:
    """Tell a task pushed before its data committed that the data will never come (a rollback)."""
    client = _redis()
    if client is not None:
        client.set(_abandoned_key(task_id), b"1", ex=seconds)


def abandoned(task_id: str) -> bool:
    client = _redis()
    return client is not None and bool(client.exists(_abandoned_key(task_id)))
