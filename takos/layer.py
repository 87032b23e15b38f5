"""Fire-and-forget messages on the channel layer from sync code (tasks, views, services).

`async_to_sync(layer.group_send)` makes a new event loop per call, and channels_redis keeps its
connections per loop, so every call opened new ones (~60 ms per wake-up here). On the Redis
pub/sub layer (the configured one) a group send is a single PUBLISH, made here from the
caller's thread with a plain Redis client: no hop to another thread before the wake-up leaves
(~1.5 ms on a busy machine, on every run start). Other network layers go through one
long-lived loop thread per process. Messages to one group leave in the order they were sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

logger = logging.getLogger("takos.layer")

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()
_group_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # group -> (lock, [senders using it])
_pending: list[concurrent.futures.Future[None]] = []  # recent sends, for flush()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker needs its own thread
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="takos-layer-send", daemon=True).start()
        return _loop


async def _send_in_order(layer: Any, group: str, message: dict[str, Any]) -> None:
    """Concurrent `group_send`s can overtake each other; a reader that sees a gap must read rows.
    (Tasks start in submission order and asyncio locks are FIFO, so the lock keeps that order.)"""
    lock, users = _group_locks.setdefault(group, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            await layer.group_send(group, message)
    finally:
        users[0] -= 1
        if not users[0]:
            del _group_locks[group]


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("channel layer send failed", exc_info=future.exception())


_publisher: tuple[int, redis.Redis | None] | None = None


def _sync_publisher() -> redis.Redis | None:
    """A plain client for the pub/sub layer's single Redis host (None: several hosts, shards)."""
    global _publisher
    if _publisher is None or _publisher[0] != os.getpid():
        hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or []
        client = redis.Redis.from_url(hosts[0]) if len(hosts) == 1 and isinstance(hosts[0], str) else None
        _publisher = (os.getpid(), client)
    return _publisher[1]


def group_send(group: str, message: dict[str, Any]) -> None:
    """Best effort: a lost message only costs its readers one poll interval."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        client = _sync_publisher() if isinstance(layer, RedisPubSubChannelLayer) else None
        if client is not None:
            # The layer's own naming (RedisPubSubLoopLayer._get_group_channel_name) and encoding.
            prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
            client.publish(f"{prefix}__group__{group}", layer.serialize(message))
            return
        if isinstance(layer, InMemoryChannelLayer):
            # In-process only: must run on the loop the readers wait on (the server's, via async_to_sync).
            async_to_sync(layer.group_send)(group, message)
            return
        future = asyncio.run_coroutine_threadsafe(_send_in_order(layer, group, message), _background_loop())
        future.add_done_callback(_log_failure)
        _pending.append(future)
        del _pending[:-64]
    except Exception:  # a broken Redis must not fail the write that already committed
        logger.warning("channel layer send failed for %s", group, exc_info=True)


def flush(timeout: float = 0.2) -> None:
    """Wait (briefly) until the messages sent so far have left, e.g. before a CPU-heavy step
    (booting an executor) that would otherwise delay them behind it on a busy machine."""
    futures, _pending[:] = list(_pending), []
    if futures:
        concurrent.futures.wait(futures, timeout=timeout)
