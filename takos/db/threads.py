"""Database work awaited from async code, on threads outside Django's request cycle."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def off_loop(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as an awaitable run on the event loop's thread pool (not Django's one sync thread, so
    streams never queue behind views), giving its database connection back when it returns.

    Django gives a request's connection back when the request ends. These threads serve no
    request, so a connection they opened stayed checked out for the thread's life: with
    PostgreSQL's pool (TAKOS_DB_POOL_SIZE, 10) six stream threads held six connections for good,
    and the request lanes had to share the other four (tests/takos/test_db_threads.py)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)
