"""One shared HTTP client for talking to containers on 127.0.0.1.

Creating an httpx client builds a TLS context (~70 ms of CPU: it loads the CA bundle);
container endpoints are plain HTTP on loopback, so one client is kept per process.
"""

from __future__ import annotations

import threading

import httpx

_client: httpx.Client | None = None
_lock = threading.Lock()


def http() -> httpx.Client:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = httpx.Client(timeout=5, trust_env=False, follow_redirects=False,
                                       limits=httpx.Limits(max_keepalive_connections=0))
    return _client
