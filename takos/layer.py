"""Messages on the channel layer from sync code (tasks, views, services), best effort.

On the Redis pub/sub layer (what settings configure with REDIS_URL) a group send is a single
PUBLISH, made here from the caller's thread with one plain Redis client per process: no event
loop and no hop to another thread before the wake-up leaves (~1.5 ms on a busy machine, on every
run start), and the message has left when this returns. Sends from one thread leave in order.
Any other layer goes through `async_to_sync(layer.group_send)`: on the in-memory layer that runs
on the server's loop, where its readers wait.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

logger = logging.getLogger("takos.layer")

_publisher: tuple[int, redis.Redis | None] | None = None


def _sync_publisher() -> redis.Redis | None:
    """A plain client for the pub/sub layer's single Redis host (None: several hosts, shards)."""
    global _publisher
    if _publisher is None or _publisher[0] != os.getpid():  # a forked worker needs its own
        hosts = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts") or []
        client = None
        if len(hosts) == 1 and isinstance(hosts[0], str):
            # Short timeouts: a Redis that hangs must not hold the write that already committed.
            client = redis.Redis.from_url(hosts[0], socket_connect_timeout=2, socket_timeout=2)
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
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broken Redis must not fail the write that already committed
        logger.warning("channel layer send failed for %s", group, exc_info=True)
