"""`GET /api/runs/:id/sse` as a plain ASGI app, in front of Django (see takos/asgi.py).

A stream is long-lived and writes many small frames, so what matters is the cost of one frame
to one client. Through Django each frame went through the streaming response, the ASGI
handler's body loop and the middleware-wrapped iterator: about 150 µs of CPU per frame per
client, so 500 watchers of one run fell seconds behind. Here the reader's batches go straight
to the server's `send`. Everything else is the same code as the Django view (which stays for
the test client and any server that does not route here): the same authentication, the same
tenancy check, the same reader (`run_stream`), the same frames and error envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from agents import selectors
from agents.api.streams import run_stream
from agents.streams import frames, parse_seq
from takos.api.errors import ApiError, error_response
from takos.db.threads import off_loop

PATH = re.compile(r"^/api/runs/([A-Za-z0-9_-]{1,64})/sse/?$")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


def match(scope: dict[str, Any]) -> str | None:
    """The run id when this request is a run stream this app serves."""
    if scope["type"] != "http" or scope.get("method") != "GET":
        return None
    found = PATH.match(scope["path"])
    return found.group(1) if found else None


async def send_error(send: Any, response: Any) -> None:
    """Send a Django JsonResponse (the error envelope) over ASGI."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def authenticate(scope: dict[str, Any]) -> tuple[Any, Any]:
    """(user, error_response): a bearer token (PAT/OAuth, `threads:read`) or the console session."""
    from auth_app.authentication import bearer_user

    headers = dict(scope.get("headers") or [])
    bearer = await bearer_user(headers.get(b"authorization", b"").decode("latin-1"), "threads:read")
    if bearer is not None:
        return bearer
    user = await off_loop(session_user)(headers.get(b"cookie", b""))
    if user is None or not user.is_authenticated:
        response = error_response(401, "Authentication required.")
        response["WWW-Authenticate"] = 'Bearer realm="takos"'
        return None, response
    return user, None


def session_user(cookie_header: bytes) -> Any:
    """The console session's user (Django's own session and hash checks), or None. Done here once
    per stream rather than by Channels' session middleware, which wraps every `send` of the stream."""
    from http.cookies import SimpleCookie
    from importlib import import_module
    from types import SimpleNamespace

    from django.contrib.auth import get_user

    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header.decode("latin-1"))
    except Exception:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    return get_user(SimpleNamespace(session=session))


def last_event_id(scope: dict[str, Any]) -> int:
    raw = dict(scope.get("headers") or []).get(b"last-event-id", b"").decode("latin-1")
    if not raw:
        raw = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("last_event_id") or [""])[0]
    return parse_seq(raw)


async def run_sse_app(scope: dict[str, Any], receive: Any, send: Any, run_id: str) -> None:
    user, problem = await authenticate(scope)
    if problem is not None:
        await send_error(send, problem)
        return
    try:
        await off_loop(selectors.run_for_user)(user, run_id)
    except ApiError as exc:
        await send_error(send, error_response(exc.status_code, str(exc.detail), code=exc.code))
        return
    await stream_run(receive, send, run_id, last_event_id(scope))


async def stream_run(receive: Any, send: Any, run_id: str, after: int, *, status: int = 200,
                     headers: list[tuple[bytes, bytes]] | None = None, preamble: bytes = b"",
                     early: Any = None) -> None:
    """Send the run's events after `after` as an SSE response until the terminal one (or until
    the client goes away). `preamble`: frames for the first write; `early`: see `follow_batches`."""
    await send({"type": "http.response.start", "status": status, "headers": SSE_HEADERS + (headers or [])})
    writer = asyncio.current_task()
    watcher = asyncio.create_task(_cancel_on_disconnect(receive, writer))
    sink = Sink(send)
    try:
        await sink.write(b"retry: 1000\n: connected\n\n" + preamble)
        async for batch in run_stream(run_id, after, batches=True, direct=sink, early=early):
            if batch:
                await sink.write(frames(batch))
            elif time.monotonic() - sink.last_write >= settings.TAKOS_SSE_HEARTBEAT_SECONDS:
                await sink.write(b": heartbeat\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if watcher.done():
            return  # the client went away: nothing more to send
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


class Sink:
    """The client's side of the stream: awaited writes from its own task, and `write_now` for
    the feed, which writes frames of caught-up clients itself (agents/streams.DirectWriter)."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.last_write = time.monotonic()

    async def write(self, chunk: bytes) -> None:
        await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.last_write = time.monotonic()

    def write_now(self, chunk: bytes) -> bool:
        # Drive the server's `send` without a task. Daphne's never waits; servers that do wait
        # (uvicorn, under back-pressure) wait before writing, so closing the coroutine there
        # drops nothing: the client's own task resends from its last event after a catch-up.
        step = self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        try:
            step.send(None)
        except StopIteration:
            self.last_write = time.monotonic()
            return True
        step.close()
        return False


async def _cancel_on_disconnect(receive: Any, writer: asyncio.Task[Any] | None) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if writer is not None:
                writer.cancel()
            return


class RunStreamRouter:
    """Sends run streams to `run_sse_app`, bearer run starts with a stream to `run_start_app`
    (agents/api/run_start_asgi.py), everything else to `inner` (Django)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from agents.api import run_start_asgi

        run_id = match(scope)
        if run_id is not None:
            await run_sse_app(scope, receive, send, run_id)
            return
        thread_id = run_start_asgi.match(scope)
        if thread_id is not None:
            await run_start_asgi.run_start_app(scope, receive, send, thread_id, self.inner)
        else:
            await self.inner(scope, receive, send)
