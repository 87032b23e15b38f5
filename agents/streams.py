"""Live streams over SSE and WebSocket, shared by run events and notifications.

Rows are the truth; the channel layer only wakes readers early. Each reader:
replays rows after the client's last id, then waits for a wake-up (or the poll interval),
reads rows again, and so on. SSE frames are `id:`/`event:`/`data:`; a `: heartbeat`
comment goes out after TAKOS_SSE_HEARTBEAT_SECONDS of silence; the run stream closes after
its terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

from takos.api.errors import error_response


@dataclass
class StreamItem:
    seq: int
    type: str
    data: dict[str, Any]
    terminal: bool = False
    _frame: bytes | None = field(default=None, repr=False, compare=False)

    def frame(self) -> bytes:
        # Encoded once and shared: one wake-up item goes to every local reader of the stream.
        if self._frame is None:
            self._frame = (f"id: {self.seq}\nevent: {self.type}\n"
                           f"data: {json.dumps(self.data, separators=(',', ':'))}\n\n").encode()
        return self._frame


Fetch = Callable[[int], Awaitable[list[StreamItem]]]
Finished = Callable[[], Awaitable[bool]]


def parse_last_event_id(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def frame(item: StreamItem) -> str:
    return item.frame().decode()


@dataclass
class Wake:
    seq: int
    items: list[StreamItem] | None


class Hub:
    """One channel-layer subscription per stream group per process (per event loop), fanned out
    to local readers through asyncio queues: N readers of a run cost one Redis message per
    event, not N."""

    QUEUE_SIZE = 1000

    def __init__(self) -> None:
        self.readers: dict[str, set[asyncio.Queue[Wake]]] = {}
        self.pumps: dict[str, tuple[asyncio.Task[None], str]] = {}
        self.lock = asyncio.Lock()

    async def subscribe(self, group: str) -> asyncio.Queue[Wake] | None:
        layer = get_channel_layer()
        if layer is None:
            return None
        queue: asyncio.Queue[Wake] = asyncio.Queue(self.QUEUE_SIZE)
        async with self.lock:
            self.readers.setdefault(group, set()).add(queue)
            if group not in self.pumps:
                channel = await layer.new_channel()
                await layer.group_add(group, channel)
                self.pumps[group] = (asyncio.create_task(self._pump(layer, group, channel)), channel)
        return queue

    async def unsubscribe(self, group: str, queue: asyncio.Queue[Wake] | None) -> None:
        if queue is None:
            return
        async with self.lock:
            readers = self.readers.get(group, set())
            readers.discard(queue)
            if readers:
                return
            self.readers.pop(group, None)
            pump, channel = self.pumps.pop(group, (None, None))
        if pump is not None:
            pump.cancel()
            layer = get_channel_layer()
            with contextlib.suppress(Exception):
                await layer.group_discard(group, channel)

    async def _pump(self, layer: Any, group: str, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup: readers keep polling the rows meanwhile
                await asyncio.sleep(1)
                continue
            raw = message.get("items")
            items = [StreamItem(seq=r["seq"], type=r["type"], data=r["data"], terminal=r["terminal"])
                     for r in raw] if raw else None
            wake = Wake(seq=int(message.get("seq", 0)), items=items)
            for queue in list(self.readers.get(group, ())):
                with contextlib.suppress(asyncio.QueueFull):  # a slow reader re-reads the rows instead
                    queue.put_nowait(wake)


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    current = _hubs.get(id(loop))
    if current is None:
        current = _hubs[id(loop)] = Hub()
    return current


async def wait_wake(queue: asyncio.Queue[Wake] | None, timeout: float) -> Wake | None:
    if queue is None:
        await asyncio.sleep(timeout)
        return None
    if not queue.empty():  # the common case under load: no timer, no task
        return queue.get_nowait()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):  # cheaper than wait_for: no extra task per wait
            return await queue.get()
    return None


async def follow_batches(*, group: str, after: int, fetch: Fetch,
                         finished: Finished | None) -> AsyncIterator[list[StreamItem]]:
    """Yield the items after `after` in batches (an empty batch = time for a heartbeat check); stop
    after a terminal item or when `finished()` says no more items will come. A batch is what one
    read or one wake-up brought, so a writer sends it to the client in one write."""
    queue = await hub().subscribe(group)
    try:
        while True:
            items = await fetch(after)
            if items:
                batch = _until_terminal(items)
                after = batch[-1].seq
                yield batch
                if batch[-1].terminal:
                    return
            if not items and finished is not None and await finished():
                # Re-read once: the terminal row may have landed between fetch and check.
                tail = await fetch(after)
                if tail:
                    yield _until_terminal(tail)
                return
            yield []
            # A wake-up that carries exactly the next items saves the DB read (the common case);
            # anything else (a gap, an old or oversized item, a timeout) falls back to the rows.
            while True:
                wake = await wait_wake(queue, settings.TAKOS_STREAM_POLL_SECONDS)
                if wake is not None and wake.seq <= after:
                    continue  # stale wake-up for events already sent
                if wake is None or not wake.items or wake.items[0].seq != after + 1:
                    break
                batch = _until_terminal(wake.items)
                refetch = False
                # Wake-ups already queued behind this one join the same write.
                while queue is not None and not queue.empty() and not batch[-1].terminal:
                    more = queue.get_nowait()
                    if more.seq <= batch[-1].seq:
                        continue  # stale
                    if not more.items or more.items[0].seq != batch[-1].seq + 1:
                        refetch = True  # a gap or an item too big to carry: read the rows next
                        break
                    batch = batch + _until_terminal(more.items)
                after = batch[-1].seq
                yield batch
                if batch[-1].terminal:
                    return
                if refetch:
                    break
    finally:
        await hub().unsubscribe(group, queue)


def _until_terminal(items: list[StreamItem]) -> list[StreamItem]:
    for index, item in enumerate(items):
        if item.terminal:
            return items[:index + 1]
    return items


async def follow(*, group: str, after: int, fetch: Fetch, finished: Finished | None) -> AsyncIterator[StreamItem | None]:
    """Item by item (None = time for a heartbeat check), for writers that send one message per item."""
    async for batch in follow_batches(group=group, after=after, fetch=fetch, finished=finished):
        for item in batch:
            yield item
        yield None


async def sse_body(source: AsyncIterator[list[StreamItem]], preamble: str = "") -> AsyncIterator[bytes]:
    yield ("retry: 1000\n: connected\n\n" + preamble).encode()
    last_write = time.monotonic()
    async for batch in source:
        if batch:
            last_write = time.monotonic()
            yield batch[0].frame() if len(batch) == 1 else b"".join(item.frame() for item in batch)
        elif time.monotonic() - last_write >= settings.TAKOS_SSE_HEARTBEAT_SECONDS:
            last_write = time.monotonic()
            yield b": heartbeat\n\n"


def sse_response(source: AsyncIterator[list[StreamItem]], *, preamble: str = "",
                 status: int = 200) -> StreamingHttpResponse:
    """`preamble`: frames sent with the first write, before the items (e.g. an id-less `metadata` event)."""
    response = StreamingHttpResponse(sse_body(source, preamble), content_type="text/event-stream", status=status)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def authenticate(request: HttpRequest, *, scope: str | None) -> tuple[Any, Any]:
    """(user, error_response): Bearer token (PAT/OAuth) or the console session."""
    from auth_app.authentication import resolve_token
    from takos.api.scopes import grants

    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        found = await sync_to_async(resolve_token, thread_sensitive=False)(header.split(None, 1)[1].strip())
        if found is None:
            return None, error_response(401, "The token is invalid, expired or revoked.")
        user, auth = found
        if scope and not grants(getattr(auth, "scopes", "*"), scope):
            return None, error_response(403, f"The token lacks the '{scope}' scope.")
        return user, None
    user = await request.auser()
    if not user.is_authenticated:
        return None, error_response(401, "Authentication required.")
    return user, None
