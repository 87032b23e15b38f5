"""SQLite with a small pool of open connections (the embedded default's database backend).

Under ASGI, Django runs each request's sync code in a thread made for that request, and
connections belong to threads, so every request used to open a new SQLite connection. A new
connection parses the whole schema on its first statement: measured 2.6 ms, more than an
entire /api/me request. Here `close()` at the end of a request (CONN_MAX_AGE = 0) hands the
open connection back to a per-database pool, and the next request, on whatever thread,
takes it from there — as Django 5.1's PostgreSQL pool does for `OPTIONS["pool"]`.

The web server's request threads ("lanes", takos/asgi_handler.py) live as long as the process:
a connection opened on one stays with it between requests, as CONN_MAX_AGE=None would keep it
(`keep_connections_on_this_thread`). Borrowing from the pool and giving back through Django's
connect() and close() was ~10 us of every request that reads the database. Django still closes
(gives back) a kept connection that an error made unusable or that a request left inside a
transaction, and an explicit close() gives it back as before.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

POOL_SIZE = 16

_pools: dict[str, list[Any]] = {}
_lock = threading.Lock()
_thread = threading.local()


def keep_connections_on_this_thread() -> None:
    """For a long-lived request thread: its connections stay open from one request to the next."""
    _thread.keep = True


class DatabaseWrapper(base.DatabaseWrapper):
    def connect(self) -> None:
        super().connect()
        if getattr(_thread, "keep", False):
            self.close_at = None  # CONN_MAX_AGE=None, for this thread's wrapper only

    def close_if_unusable_or_obsolete(self) -> None:
        if self.connection is not None and self.connection.in_transaction and not self.in_atomic_block:
            self.close()  # a transaction a request began and never ended: never carried into the next
            return
        super().close_if_unusable_or_obsolete()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not self.is_in_memory_db():
            with _lock:
                pool = _pools.get(self.settings_dict["NAME"])
                if pool:
                    return pool.pop()
        return super().get_new_connection(conn_params)

    def _close(self) -> None:
        conn = self.connection
        if conn is None:
            return None
        # Only a clean connection goes back: never one inside a transaction (a failed request).
        if not self.is_in_memory_db() and not conn.in_transaction:
            with _lock:
                pool = _pools.setdefault(self.settings_dict["NAME"], [])
                if len(pool) < POOL_SIZE:
                    pool.append(conn)
                    return None
        return super()._close()


def close_pool() -> None:
    """Really close every pooled connection (tests that delete or replace database files)."""
    with _lock:
        conns = [conn for pool in _pools.values() for conn in pool]
        _pools.clear()
    for conn in conns:
        conn.close()
