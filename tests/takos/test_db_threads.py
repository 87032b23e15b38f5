"""takos.db.threads.off_loop: database work on the loop's thread pool gives its connection back."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

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
    async def main() -> tuple[bool, bool]:
        # One pool thread, so every call below runs on the same thread: with 12 calls on several
        # threads, a thread that leaked in the first round but got no off_loop call kept its
        # connection, and the check failed now and then.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        # Plain asgiref: the pool thread keeps the connection it opened (the leak this fixes).
        await sync_to_async(_query, thread_sensitive=False)()
        leaked = await sync_to_async(_open_here, thread_sensitive=False)()
        await off_loop(_query)()
        held = await sync_to_async(_open_here, thread_sensitive=False)()
        return leaked, held

    leaked, held = asyncio.run(main())
    assert leaked  # the leak this guards against is real
    assert not held
    stats = connection.pool.get_stats()  # every connection back in the pool but the test's own
    assert stats.get("pool_available", 0) >= stats.get("pool_size", 0) - 1, stats
