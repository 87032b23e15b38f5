"""The route cache's shared generation (Redis) is never fetched on the event loop."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from dispatch import table

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set in CI): the shared generation")


def test_the_shared_generation_is_fetched_off_the_event_loop(settings) -> None:
    from django.core.cache import cache as shared

    settings.REDIS_URL = os.environ["REDIS_URL"]
    routes = table.RouteCache()
    shared.set(table._GEN_KEY, "gen-1", None)
    routes.get("example.test")  # a sync caller fetches it inline
    assert routes._shared_gen == "gen-1"
    shared.set(table._GEN_KEY, "gen-2", None)
    fetched_on: list[int] = []
    fetch = routes._fetch_shared
    # The fetch finishes only after the request has read its value: on a loaded machine the pool
    # thread could otherwise finish its Redis GET before the loop thread's next line (CI, once).
    # A `get` that waited for the fetch would see "gen-2" after the 5 s wait and fail below.
    read = threading.Event()

    def recording() -> None:
        fetched_on.append(threading.get_ident())
        read.wait(5)
        fetch()

    routes._fetch_shared = recording  # type: ignore[method-assign]

    async def request() -> tuple[object, int]:
        routes._shared_checked = 0.0  # due
        routes.get("example.test")
        seen = routes._shared_gen  # this request goes on with the last value
        read.set()
        for _ in range(200):
            if routes._shared_gen == "gen-2":
                break
            await asyncio.sleep(0.005)
        return seen, threading.get_ident()

    seen, loop_thread = asyncio.run(request())
    assert seen == "gen-1"
    assert routes._shared_gen == "gen-2"  # the next requests see the new one
    assert fetched_on and fetched_on[0] != loop_thread
