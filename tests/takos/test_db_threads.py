"""takos.db.threads.off_loop: database work on the loop's thread pool gives its connection back."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from accounts.models import User
from takos.db.threads import off_loop


def _query() -> int:
    User.objects.exists()
    return 1


def _open_here() -> bool:
    return connection.connection is not None


@pytest.mark.django_db(transaction=True)
def test_a_thread_pool_call_gives_its_connection_back() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL (set in CI): the PostgreSQL connection pool's statistics")
    async def main() -> tuple[list[bool], list[bool]]:
        # Plain asgiref: each pool thread keeps the connection it opened (the leak this fixes).
        await asyncio.gather(*(sync_to_async(_query, thread_sensitive=False)() for _ in range(12)))
        leaked = await asyncio.gather(*(sync_to_async(_open_here, thread_sensitive=False)() for _ in range(12)))
        await asyncio.gather(*(off_loop(_query)() for _ in range(12)))
        held = await asyncio.gather(*(sync_to_async(_open_here, thread_sensitive=False)() for _ in range(12)))
        return leaked, held

    leaked, held = asyncio.run(main())
    assert any(leaked)  # the same pool threads ran both rounds
    assert not any(held)
    stats = connection.pool.get_stats()  # every connection back in the pool but the test's own
    assert stats.get("pool_available", 0) >= stats.get("pool_size", 0) - 1, stats
