"""Django's ASGI handler, tuned: one thread hop per request, on long-lived threads.

1. In async mode Django runs every sync-style middleware hook (`process_request`,
   `process_response`) through its own `sync_to_async`: eight middlewares cost about sixteen
   thread hand-offs per request, a ~3 ms floor under every response. Built in sync mode, the
   whole chain (middleware, view, ORM) runs in one hop, as under WSGI. Async views (SSE
   streams, git smart HTTP) still work: Django calls them through `async_to_sync` on the
   server's event loop, and streamed async bodies are still sent by the event loop.
2. Django also gives every request a thread of its own (`ThreadSensitiveContext`), so every
   thread-local — the database wrapper, the cache client — started cold on each request. Here
   a request borrows one of a few long-lived single-thread executors ("lanes") for its whole
   life (its view and `response.close()`, which ends the request's database use, must share a
   thread). When all lanes are busy (long streams hold theirs), a request falls back to
   Django's own per-request thread instead of waiting.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, lanes: int = 8) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
        self._free = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-lane-{i}") for i in range(lanes)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        lane = self._free.pop() if self._free else None
        try:
            async with ThreadSensitiveContext(executor=lane):
                await self.handle(scope, receive, send)
        finally:
            if lane is not None:
                self._free.append(lane)
