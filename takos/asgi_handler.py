"""Django's ASGI handler with the middleware chain run synchronously, in one thread hop.

In async mode Django runs every sync-style middleware hook (`process_request`,
`process_response`) through its own `sync_to_async` call: eight middlewares cost about
sixteen thread hand-offs per request, measured as a ~3 ms floor under every response, ten
times the work of a small view. Built in sync mode, the whole chain — middleware, view,
ORM — runs in the request's thread in one hop, as under WSGI. Async views (SSE streams,
git smart HTTP) still work: Django calls them through `async_to_sync` on the server's event
loop, and streamed async bodies are still sent by the event loop.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class OneHopASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
