"""Dispatch tests: close the database connection that `database_sync_to_async` opened in asgiref's
shared thread (route lookups, metric flushes), so PostgreSQL can drop the test database at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _close_async_db_connections() -> Iterator[None]:
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())
