"""The Redis cache shares one client (one pool) across cache objects, threads and contexts."""

from __future__ import annotations

import os
import threading

import pytest
from django.core.cache import caches

from takos.cache import RedisCache

REDIS_URL = os.environ.get("REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (set in CI)")
def test_cache_objects_share_one_redis_pool():
    first = RedisCache(REDIS_URL, {})
    made_elsewhere: list[RedisCache] = []
    thread = threading.Thread(target=lambda: made_elsewhere.append(RedisCache(REDIS_URL, {})))
    thread.start()
    thread.join()
    assert first._cache is made_elsewhere[0]._cache
    first.set("takos-test-shared", "v", 5)
    assert made_elsewhere[0].get("takos-test-shared") == "v"
    # and one redis-py client per pool, not one built for each call
    client = first._cache.get_client()
    assert client is first._cache.get_client("any key") is made_elsewhere[0]._cache.get_client()
    assert first._cache.get_client(write=True).connection_pool is client.connection_pool
    assert type(caches["default"]) is RedisCache
