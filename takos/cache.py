"""Django's Redis cache with one connection pool per process; its local-memory cache without the
memcached key check.

Django keeps cache objects in a context-local handler; under ASGI every request (and every
`sync_to_async` call outside the lanes) starts from a fresh context, so each one built a new
`RedisCache`, a new connection pool and a new TCP connection with its handshake (seen in profiles
of stream connects: a fifth of the time). Here all instances with the same servers and options
share one client, whose redis-py pool is thread-safe and resets itself in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


class ReusedClient(RedisCacheClient):
    """Django builds a redis-py client object per cache call (its response-callback table alone
    was ~0.2 ms of every token lookup in a busy web process); one per pool serves every call, as
    redis-py clients are thread-safe over their pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reused: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._reused.get(index)
        if client is None:
            client = self._reused[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClient

    @cached_property
    def _cache(self) -> Any:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client


class LocMemCache(DjangoLocMemCache):
    """The embedded default's cache. Django checks every key for memcached's limits (length,
    control characters) character by character, which warns and changes nothing here: ~3.5 us of
    every call, a fifth of a cached bearer token's resolve."""

    def validate_key(self, key: str) -> None:
        return None
