"""SQLite with a small pool of open connections (the embedded default's database backend).

Under ASGI, Django runs each request's sync code in a thread made for that request, and
connections belong to threads, so every request used to open a new SQLite connection. A new
connection parses the whole schema on its first statement: measured 2.6 ms, more than an
entire /api/me request. Here `close()` at the end of a request (CONN_MAX_AGE = 0) hands the
open connection back to a per-database pool, and the next request, on whatever thread,
takes it from there — as Django 5.1's PostgreSQL pool does for `OPTIONS["pool"]`.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base

POOL_SIZE = 16

_pools: dict[str, list[Any]] = {}
_lock = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
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
