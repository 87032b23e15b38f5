"""Async stream endpoints: `GET /api/runs/:id/sse` and the `/api/runs/:id/ws` consumer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import uuid
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from agents import events, selectors
from agents.models import Run, RunEvent
from agents.streams import (
    StreamItem,
    authenticate,
    follow,
    follow_batches,
    hub,
    parse_last_event_id,
    sse_response,
)
from takos.api.errors import ApiError, error_response
from takos.asgi_handler import server_loop
from takos.db.threads import off_loop


def stream_rows(run_id: str, after_seq: int) -> list[StreamItem]:
    return [StreamItem(seq=seq, type=type, data=data, terminal=type in events.TERMINAL_TYPES)
            for seq, type, data in events.rows_after(run_id, after_seq)]


def _fetcher(run_id: str) -> Any:
    # Readers query outside Django's single sync thread, so many streams never queue behind views.
    @off_loop
    def fetch(after_seq: int) -> list[StreamItem]:
        return stream_rows(run_id, after_seq)

    return fetch


def run_stream(run_id: str, after: int, *, batches: bool = False, direct: Any = None, early: Any = None) -> Any:
    @off_loop
    def finished() -> bool:
        status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return status is None or status in Run.TERMINAL

    group, fetch = events.run_group(run_id), _fetcher(run_id)
    if batches or direct is not None or early is not None:
        return follow_batches(group=group, after=after, fetch=fetch, finished=finished, direct=direct, early=early)
    return follow(group=group, after=after, fetch=fetch, finished=finished)


async def subscribe_run(run_id: str) -> Any:
    return await hub().subscribe(events.run_group(run_id), _fetcher(run_id))


def _unsubscribe_later(pending: concurrent.futures.Future, loop: asyncio.AbstractEventLoop) -> None:
    """Give back a subscription taken for a stream once it exists (twice is harmless:
    `Hub.unsubscribe` ignores a reader it no longer has)."""
    async def unsubscribe(feed: Any, queue: Any) -> None:
        await hub().unsubscribe(feed, queue)

    def done(future: concurrent.futures.Future) -> None:
        if not future.cancelled() and future.exception() is None:
            asyncio.run_coroutine_threadsafe(unsubscribe(*future.result()), loop)

    pending.add_done_callback(done)


async def run_sse(request: HttpRequest, run_id: str) -> HttpResponse:
    if request.method != "GET":
        return error_response(405, f"Method {request.method} is not allowed here.")
    user, problem = await authenticate(request, scope="threads:read")
    if problem is not None:
        return problem
    try:
        await off_loop(selectors.run_for_user)(user, run_id)
    except ApiError as exc:
        return error_response(exc.status_code, str(exc.detail), code=exc.code)
    return sse_response(run_stream(run_id, parse_last_event_id(request), batches=True))


def metadata_frame(run: dict[str, Any]) -> str:
    """The id-less first event of `POST /api/threads/:threadId/runs/stream`: the created run."""
    data = json.dumps({"run_id": run["id"], "thread_id": run["thread_id"], "run": run}, separators=(",", ":"))
    return f"event: metadata\ndata: {data}\n\n"


@csrf_exempt  # the DRF view below enforces CSRF for session callers, as every API POST does
def thread_runs_stream(request: HttpRequest, thread_id: str) -> HttpResponse:
    """`POST /api/threads/:threadId/runs/stream`: create a run (same body, checks and errors as
    `POST /api/threads/:threadId/runs`) and stream its events in the same response.

    One request instead of POST-then-GET saves a round trip, an authentication and a run lookup
    before the first event, which is what a client that wants to watch the run waits for. The
    first frame is an id-less `metadata` event carrying the run; a client that drops the
    connection resumes with `GET /api/runs/:id/sse` and its Last-Event-ID.

    A sync view: the run is created on the request's own thread (an async view would hop to the
    event loop and back to a thread first); the stream itself is an async iterator that Django's
    ASGI handler drives on the event loop."""
    if request.method != "POST":
        return error_response(405, f"Method {request.method} is not allowed here.")
    from agents.api.views import ThreadRunsView

    request.META["HTTP_ACCEPT"] = "application/json"  # the run and any error are rendered as JSON
    created = ThreadRunsView.as_view()(request, thread_id=thread_id)
    created.render()
    if created.status_code != 201:
        return created
    run = created.data["run"]
    early, pending, loop = None, None, server_loop()
    if loop is not None:
        # Subscribe on the server's loop now (that work overlaps the worker's start, which runs in
        # another process), then read the rows once: together they hold every event of the run,
        # so the stream starts from them, with no read and no "has it ended?" query of its own
        # between here and the wait for the worker's `started`.
        pending = asyncio.run_coroutine_threadsafe(subscribe_run(run["id"]), loop)
        try:
            feed, queue = pending.result(timeout=5)
        except Exception:  # no subscription (yet): the stream subscribes by itself
            _unsubscribe_later(pending, loop)
            pending = None
        else:
            early = (feed, queue, stream_rows(run["id"], 0))
    response = sse_response(run_stream(run["id"], 0, batches=True, early=early), preamble=metadata_frame(run),
                            status=201)
    if pending is not None:
        # The reader gives the subscription back when it ends; a client gone before the stream's
        # first read never starts the reader, and the response's close gives it back instead.
        response._resource_closers.append(lambda: _unsubscribe_later(pending, loop))
    response["Content-Location"] = f"/api/runs/{run['id']}"
    return response


class RunConsumer(AsyncJsonWebsocketConsumer):
    """WebSocket: `connected`, then `replay` of events after ?last_event_id=, then live events."""

    async def connect(self) -> None:
        from urllib.parse import parse_qs

        from auth_app.authentication import resolve_token

        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        user = self.scope.get("user")
        token = (query.get("token") or [""])[0]
        for name, value in self.scope.get("headers", []):
            if name == b"authorization" and value.lower().startswith(b"bearer "):
                token = value.decode().split(None, 1)[1]
        if token:
            found = await off_loop(resolve_token)(token)
            user = found[0] if found else None
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            run = (await off_loop(selectors.run_for_user)(user, self.run_id)).obj
        except ApiError:
            await self.close(code=4404)
            return
        try:
            after = max(0, int((query.get("last_event_id") or ["0"])[0]))
        except ValueError:
            after = 0
        await self.accept()
        await self.send_json({"type": "connected", "data": {"connectionId": uuid.uuid4().hex,
                                                            "lastEventId": run.last_event_id}})
        backlog = await off_loop(lambda: list(RunEvent.objects.filter(run_id=self.run_id, seq__gt=after)
                                                   .order_by("seq")[:2000]))()
        await self.send_json({"type": "replay", "data": {"events": [events.event_out(e) for e in backlog],
                                                         "count": len(backlog)}})
        last = backlog[-1].seq if backlog else after
        if backlog and backlog[-1].type in events.TERMINAL_TYPES:
            await self.close()
            return
        self.pump = asyncio.create_task(self._pump(last))

    async def _pump(self, after: int) -> None:
        async for item in run_stream(self.run_id, after):
            if item is None:
                continue
            await self.send_json({"type": item.type, "data": item.data, "eventId": item.seq, "event_id": item.seq})
            if item.terminal:
                break
        await self.close()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content == "ping" or (isinstance(content, dict) and content.get("type") == "ping"):
            await self.send_json({"type": "pong"})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def disconnect(self, code: int) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.cancel()
