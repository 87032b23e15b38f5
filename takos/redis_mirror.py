"""A process-local copy of small Redis values under one key prefix, kept true by Redis itself.

Every authenticated request read its token owner's generation from Redis (auth_app.token_cache):
a network round trip, and under concurrent requests a GIL hand-off, in every API call. Redis's
support for client-side caching (CLIENT TRACKING in broadcast mode, Redis 6+) sends a message
for every change to a key under a prefix; one listener thread per process receives them on its
own connection and drops the changed keys from the copy.

A value is copied only while the listener is subscribed, and only if no change arrived while it
was being read, so a copy never outlives a write by more than the message's delivery; writes made
by this process drop their key at once (`forget`). While the listener is not subscribed
(starting, connection lost, Redis restarting) every read goes to Redis, as without the mirror.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("takos.cache")

CHANNEL = "__redis__:invalidate"
MAX_KEYS = 100_000
# A quiet listener PINGs after this long and drops its copies when the answer does not come as
# fast: a connection that died without a word (a partition) is found within twice this.
HEALTH_SECONDS = 1.0
_MISSING = object()


class KeyMirror:
    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # moves on every change seen: a read that spans one is not copied
        self._live = False
        self._pid = 0
        self.client_id: int | None = None  # the listener's connection, as Redis names it
        self.health_seconds = HEALTH_SECONDS

    def get(self, key: str, read: Callable[[], Any]) -> Any:
        """The value of the full Redis `key`: the copy, or `read()` (which asks Redis)."""
        if self._pid != os.getpid():
            self._start()
        value = self._values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        epoch, live = self._epoch, self._live
        value = read()
        if live and value is not None:
            with self._lock:
                if self._live and self._epoch == epoch:
                    if len(self._values) >= MAX_KEYS:
                        self._values.clear()
                    self._values[key] = value
        return value

    def forget(self, key: str) -> None:
        """After this process changed `key` in Redis: its own next read must not wait for the message."""
        with self._lock:
            self._epoch += 1
            self._values.pop(key, None)

    def clear(self) -> None:
        """Forget every copy (after this process emptied the database, e.g. between tests)."""
        with self._lock:
            self._epoch += 1
            self._values.clear()

    @property
    def live(self) -> bool:
        return self._live

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # A new process (or a forked child, where the parent's thread does not exist): start over.
            self._pid = os.getpid()
            self._values = {}
            self._live = False
            self._epoch += 1
        threading.Thread(target=self._listen, name="redis-mirror", daemon=True).start()

    def _drop_all(self) -> None:
        with self._lock:
            self._live = False
            self._epoch += 1
            self._values.clear()

    def _listen(self) -> None:
        import redis

        pid = os.getpid()
        delay = 0.1
        while self._pid == pid:
            conn = None
            try:
                client = redis.Redis.from_url(self.url, protocol=2, socket_keepalive=True,
                                              socket_timeout=self.health_seconds)
                conn = client.connection_pool.get_connection()
                conn.send_command("CLIENT", "ID")
                client_id = self.client_id = conn.read_response()
                # Changes to any key under the prefix are sent to this same connection, as messages
                # of the invalidation channel (RESP2 needs the redirect; here it points to itself).
                conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self.prefix)
                conn.read_response()
                conn.send_command("SUBSCRIBE", CHANNEL)
                conn.read_response()
                with self._lock:
                    self._epoch += 1
                    self._values.clear()
                    self._live = True
                delay = 0.1
                pinged = False
                while True:
                    try:
                        message = conn.read_response(disconnect_on_error=False)
                    except redis.TimeoutError:
                        if pinged:
                            raise  # no answer: every change since may have been missed
                        conn.send_command("PING")
                        pinged = True
                        continue
                    pinged = False  # anything that arrives shows the connection alive
                    if not isinstance(message, list) or len(message) < 3 or message[0] != b"message":
                        continue
                    keys = message[2]
                    with self._lock:
                        self._epoch += 1
                        if keys is None:  # FLUSHDB / FLUSHALL, or Redis dropped the tracking table
                            self._values.clear()
                        else:
                            for key in keys:
                                self._values.pop(key.decode() if isinstance(key, bytes) else key, None)
            except Exception as exc:  # lost or refused: read from Redis until subscribed again
                self._drop_all()
                logger.warning("redis mirror of %s* not live (%s); retrying in %.1f s", self.prefix, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if conn is not None:
                    conn.disconnect()
