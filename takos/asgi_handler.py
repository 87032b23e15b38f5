"""Django's ASGI handler, tuned: one thread hop per request, on long-lived threads.

1. In async mode Django runs every sync-style middleware hook (`process_request`,
   `process_response`) through its own `sync_to_async`: eight middlewares cost about sixteen
   thread hand-offs per request, a ~3 ms floor under every response. Built in sync mode, the
   whole chain (middleware, view, ORM) runs in one hop, as under WSGI. Async views (SSE
   streams, git smart HTTP) still work: Django calls them through `async_to_sync` on the
   server's event loop, and streamed async bodies are still sent by the event loop.
2. Django also sends `request_started` and closes the response (`request_finished`, which ends
   the request's database use) in hops of their own. Here they run in the same hop as the
   chain, so a whole response is computed and finished in one hop; only a streamed response is
   closed after its last chunk, in a second hop.
3. Django gives every request a thread of its own (`ThreadSensitiveContext`), so every
   thread-local — the database wrapper, the cache client — started cold on each request. Here
   a request borrows one of a few long-lived single-thread executors ("lanes") until its thread
   work is done: after the hop for a whole response, after `close()` for a streamed one (view
   and `close()` must share a thread). When all lanes are busy (long streams hold theirs), a
   request falls back to Django's own per-request thread instead of waiting.
4. Django resolves every request's path against the URL patterns anew: each pattern is tried in
   turn and every include that does not match raises and catches a `Resolver404`, so a path of a
   late app (repositories, workflows, console pages) cost 0.1-0.15 ms and even `/health` 10 us.
   Here a path's match is remembered (`resolve_path`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponse
from django.urls import LocalePrefixPattern, ResolverMatch, get_resolver, set_script_prefix, set_urlconf
from django.utils.log import log_response

from takos.db.sqlite3.base import keep_connections_on_this_thread

_give_lane_back: contextvars.ContextVar[Callable[[], None]] = contextvars.ContextVar("give_lane_back")
_server_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar("server_loop",
                                                                                               default=None)


def server_loop() -> asyncio.AbstractEventLoop | None:
    """From a view's thread: the event loop of the server that is serving this request, for work
    the view starts there (a stream's subscription); None outside this handler (the test client)."""
    return _server_loop.get()


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, lanes: int = 8) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._sync_chain = self._middleware_chain
        self._middleware_chain = sync_to_async(self._sync_chain, thread_sensitive=True)
        self._free = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-lane-{i}",
                                         initializer=keep_connections_on_this_thread) for i in range(lanes)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        lane = self._free.pop() if self._free else None
        returned = lane is None

        def give_back() -> None:
            nonlocal returned
            if not returned:
                returned = True
                self._free.append(lane)

        token = _give_lane_back.set(give_back)
        loop_token = _server_loop.set(asyncio.get_running_loop())
        try:
            async with ThreadSensitiveContext(executor=lane):
                await self.handle(scope, receive, send)
        finally:
            _server_loop.reset(loop_token)
            _give_lane_back.reset(token)
            give_back()

    def resolve_request(self, request: Any) -> ResolverMatch:
        if hasattr(request, "urlconf"):  # set by a middleware for this request: Django's own way
            return super().resolve_request(request)
        request.resolver_match = match = resolve_path(request.path_info)
        return match

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponse:
        """Everything a request does on its thread, in one hop: `request_started`, the request,
        the middleware chain and view, and for a whole (not streamed) body, `close()`."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            set_urlconf(settings.ROOT_URLCONF)
            response = self._sync_chain(request)
            response._resource_closers.append(request.close)
            if response.status_code >= 400:
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # the body is already bytes: finish the request before sending it
        return response

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's `ASGIHandler.handle` with `_respond` as its one hop."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
        if not response.streaming:
            # Its thread's work is done: the lane serves the next request while this one is sent
            # (a keep-alive client's next request otherwise found every lane taken and got a new
            # thread and database connection).
            _give_lane_back.get()()
        # As Django: send while listening for a disconnect, which stops a stream being sent.
        tasks = [asyncio.create_task(self.listen_for_disconnect(receive)),
                 asyncio.create_task(self.send_response(response, send))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:  # the client went away
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if response.streaming:
            await sync_to_async(response.close, thread_sensitive=True)()
        body_file.close()


RESOLVED_MAX = 4096


def resolve_path(path: str) -> ResolverMatch:
    """`get_resolver().resolve(path)`, remembered per path (Resolver404 is not remembered).

    The answer depends only on the path and the URL patterns: the memory hangs on the resolver
    object, which Django replaces when the patterns change (`clear_url_caches`, a new ROOT_URLCONF).
    Not with `i18n_patterns`, whose answer also depends on the active language: nothing is
    remembered then. A match is shared by the requests of its path, and nothing changes one after
    resolving (views get copies of its arguments). At most RESOLVED_MAX paths are kept (ids in
    paths make many), the oldest dropped first."""
    resolver = get_resolver()
    known: dict[str, ResolverMatch] | None = resolver.__dict__.get("_takos_resolved")
    if known is None:
        localized = any(isinstance(getattr(p, "pattern", None), LocalePrefixPattern) for p in resolver.url_patterns)
        known = resolver.__dict__.setdefault("_takos_resolved", {} if not localized else _Forgetful())
    match = known.get(path)
    if match is None:
        match = resolver.resolve(path)
        if len(known) >= RESOLVED_MAX:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # another thread changed it
                del known[next(iter(known))]
        known[path] = match
    return match


class _Forgetful(dict):
    def __setitem__(self, key: str, value: ResolverMatch) -> None:
        return None
