"""Live streams over SSE and WebSocket, shared by run events and notifications.

Rows are the truth; the channel layer only wakes readers early. Each reader replays the
rows after the client's last id, then takes what its process's `Feed` for the stream hands
out: one channel-layer subscription and one DB reader per stream per process, shared by all
local clients (see `Feed`). SSE frames are `id:`/`event:`/`data:`; a `: heartbeat`
comment goes out after TAKOS_SSE_HEARTBEAT_SECONDS of silence; the run stream closes after
its terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

from takos.api.errors import error_response

logger = logging.getLogger("takos.agents")


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


def frames(items: list[StreamItem]) -> bytes:
    """The SSE frames of a batch, for one write (each item's frame is encoded once and shared)."""
    return items[0].frame() if len(items) == 1 else b"".join(item.frame() for item in items)


Fetch = Callable[[int], Awaitable[list[StreamItem]]]
Finished = Callable[[], Awaitable[bool]]


def parse_last_event_id(request: HttpRequest) -> int:
    return parse_seq(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))


def parse_seq(raw: str | None) -> int:
    """A client-sent event id (Last-Event-ID); anything that is not a number means "from the start"."""
    try:
        return max(0, int(raw or "0"))
    except ValueError:
        return 0


@dataclass
class Wake:
    seq: int
    items: list[StreamItem] | None


READER_IDLE_SECONDS = 5.0  # how often the feed tells its readers to re-check what they may have missed
PAGE = 200  # a fetch that returns at least this many items may have left more behind


TICK = Wake(seq=-1, items=None)


class DirectSink(Protocol):
    def write_now(self, chunk: bytes) -> bool:
        """Write without waiting, or return False (nothing written) if the transport would wait."""


@dataclass(eq=False)
class DirectWriter:
    after: int
    sink: DirectSink
    wakeup: asyncio.Future[str]
    feed: Feed

    def leave(self, reason: str) -> None:
        self.feed.direct.discard(self)
        if not self.wakeup.done():
            self.wakeup.set_result(reason)


class Feed:
    """One stream group's fan-out in one process: a single channel-layer subscription and a
    single DB reader for every local client of the group.

    Wake-ups that carry the next items are passed on as they are; a gap (a wake-up that was
    lost, reordered or too big to carry its items) and the poll (TAKOS_STREAM_POLL_SECONDS, the
    embedded default's only path across processes) read the rows once here, not once per
    client. Readers receive the same `Wake` objects (items and their encoded frames shared)
    in sequence order."""

    QUEUE_SIZE = 1000
    RECENT = 512  # items kept for readers that join: a crowd connecting at once reads them, not the DB
    FINISHED_TTL = 0.5  # seconds one "has the run ended?" answer is shared

    def __init__(self, group: str, fetch: Fetch) -> None:
        self.group = group
        self.fetch = fetch
        self.readers: set[asyncio.Queue[Wake]] = set()
        self.last: int | None = None  # highest sequence handed to the readers
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # its wake-ups, from the hub
        self.channel = ""  # the hub's channel, once added to the group
        self.tasks: list[asyncio.Task[None]] = []
        self.recent: deque[StreamItem] = deque(maxlen=self.RECENT)  # contiguous, newest last
        self.inflight: dict[int, asyncio.Future[list[StreamItem]]] = {}
        self.finished_answer: tuple[float, asyncio.Future[bool]] | None = None
        self.direct: set[DirectWriter] = set()  # caught-up readers the feed writes to itself

    async def read_after(self, after: int) -> list[StreamItem]:
        """The stored items after `after`: from `recent` when it reaches back that far, else one
        DB read shared by every reader asking for the same position at the same time."""
        recent = self.recent
        if recent and recent[0].seq <= after + 1 <= recent[-1].seq + 1:
            return [item for item in recent if item.seq > after]
        future = self.inflight.get(after)
        if future is None:
            future = self.inflight[after] = asyncio.ensure_future(self.fetch(after))
            future.add_done_callback(lambda _f: self.inflight.pop(after, None))
        items = await asyncio.shield(future)
        complete = items and len(items) < PAGE and (self.last is None or items[-1].seq >= self.last)
        if complete and (not recent or recent[-1].seq < items[-1].seq):
            self._remember(items)
        return items

    async def has_finished(self, finished: Finished) -> bool:
        """`finished()` asked once per FINISHED_TTL for all the readers of this feed."""
        now = time.monotonic()
        if self.finished_answer is None or now - self.finished_answer[0] > self.FINISHED_TTL:
            self.finished_answer = (now, asyncio.ensure_future(finished()))
        return await asyncio.shield(self.finished_answer[1])

    def seed(self, items: list[StreamItem]) -> None:
        """Rows a reader read itself, contiguous from the stream's first: they go before the
        wake-ups the feed already kept (when the two meet), so readers replay both from here."""
        if not items or items[0].seq != 1:
            return
        recent = self.recent
        if recent and recent[0].seq > items[-1].seq + 1:
            return  # a hole between the rows and the wake-ups: readers read the rows themselves
        merged = items + [item for item in recent if item.seq > items[-1].seq]
        recent.clear()
        recent.extend(merged)

    def _remember(self, items: list[StreamItem]) -> None:
        if self.recent and items[0].seq != self.recent[-1].seq + 1:
            if items[0].seq <= self.recent[-1].seq:
                items = [item for item in items if item.seq > self.recent[-1].seq]
                if not items:
                    return
            else:
                self.recent.clear()  # not contiguous: start over from these
        self.recent.extend(items)

    async def start(self, channel: str) -> None:
        """Adds the hub's `channel` ("" without a channel layer) to the group: one SUBSCRIBE."""
        layer = get_channel_layer()
        if layer is not None and channel:
            await layer.group_add(self.group, channel)
            self.channel = channel
        self.tasks.append(asyncio.create_task(self._pump()))
        self.tasks.append(asyncio.create_task(self._tick()))

    async def _tick(self) -> None:
        """One timer for all readers (not one per reader per wait): every interval each reader is
        told to re-check (read what it may have missed, send a heartbeat if it has been silent)."""
        interval = min(READER_IDLE_SECONDS, settings.TAKOS_SSE_HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(interval)
            self._push(TICK)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        layer = get_channel_layer()
        if layer is not None and self.channel:
            with contextlib.suppress(Exception):
                await layer.group_discard(self.group, self.channel)

    def position(self, seq: int) -> None:
        """A reader caught up to `seq` by itself: the feed continues from the furthest one."""
        self.last = seq if self.last is None else max(self.last, seq)

    async def _pump(self) -> None:
        poll = settings.TAKOS_STREAM_POLL_SECONDS
        while True:
            message: dict[str, Any] | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    message = await self.inbox.get()
            try:
                await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # the DB went away for a moment: readers re-read on their own
                logger.warning("stream feed %s: read failed", self.group, exc_info=True)
                await asyncio.sleep(1)

    async def _handle(self, message: dict[str, Any] | None) -> None:
        items: list[StreamItem] | None = None
        if message is not None:
            seq = int(message.get("seq", 0))
            if self.last is not None and seq <= self.last:
                return  # stale
            raw = message.get("items")
            if raw:
                items = [StreamItem(seq=r["seq"], type=r["type"], data=r["data"], terminal=r["terminal"])
                         for r in raw]
                if self.last is not None:
                    items = [item for item in items if item.seq > self.last]
                    if items and items[0].seq != self.last + 1:
                        items = None  # a gap: read the rows
            if items is None and self.last is None:
                self._push(Wake(seq=seq, items=None))  # no position yet: each reader re-reads
                return
        if items is None:
            if self.last is None:
                return  # a poll before any reader has a position: nothing to compare with
            items = await self.fetch(self.last)
            if not items:
                return
        self.last = items[-1].seq
        self._remember(items)
        self._push(Wake(seq=self.last, items=items))

    def _push(self, wake: Wake) -> None:
        for queue in self.readers:
            if not queue.full():  # a reader that stopped reading re-reads the rows when it wakes
                queue.put_nowait(wake)
        if self.direct:
            self._write_direct(wake)

    def _write_direct(self, wake: Wake) -> None:
        """Write the wake-up's frames straight to every caught-up direct reader: no task wakes per
        client. A reader that would need anything else (a gap, a tick, its end) is handed back."""
        items = wake.items
        if not items:
            for writer in list(self.direct):
                writer.leave("tick" if wake is TICK else "gap")
            return
        shared: bytes | None = None  # the frames of the whole wake-up, joined once
        for writer in list(self.direct):
            if wake.seq <= writer.after:
                continue
            batch = items if items[0].seq == writer.after + 1 else [i for i in items if i.seq > writer.after]
            if not batch or batch[0].seq != writer.after + 1:
                writer.leave("gap")
                continue
            batch = _until_terminal(batch)
            if batch is items:
                shared = shared or frames(items)
                chunk = shared
            else:
                chunk = frames(batch)
            if not writer.sink.write_now(chunk):
                writer.leave("gap")  # the server wanted to wait (back-pressure): the reader resends
                continue
            writer.after = batch[-1].seq
            if batch[-1].terminal:
                writer.leave("end")


class Hub:
    """The feeds of one process (one event loop): N local readers of a stream cost one Redis
    message and at most one DB read per event, not N.

    Every feed's group is added to one channel of the hub's, taken for the process's life and
    read by one task that hands each wake-up to its group's feed (wake-ups name their group):
    a new stream costs one SUBSCRIBE, not two (a channel of its own, then the group), and no
    reader task of its own. That channel also keeps channels_redis' pub/sub reader reading
    (it sleeps 100 ms at a time while its connection has no subscription), so the first wake-up
    of a stream that starts after a quiet spell is not held back."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.feeds: dict[str, Feed] = {}
        self.lock = asyncio.Lock()
        self.channel = ""  # taken with the router, on the first subscription
        self.router: asyncio.Task[None] | None = None

    async def subscribe(self, group: str, fetch: Fetch) -> tuple[Feed, asyncio.Queue[Wake]]:
        queue: asyncio.Queue[Wake] = asyncio.Queue(Feed.QUEUE_SIZE)
        async with self.lock:
            layer = get_channel_layer()
            if self.router is None and layer is not None:
                self.channel = await layer.new_channel()
                self.router = asyncio.create_task(self._route(layer))
            feed = self.feeds.get(group)
            if feed is None:
                feed = Feed(group, fetch)
                await feed.start(self.channel)
                self.feeds[group] = feed
            feed.readers.add(queue)
        return feed, queue

    async def unsubscribe(self, feed: Feed, queue: asyncio.Queue[Wake]) -> None:
        async with self.lock:
            feed.readers.discard(queue)
            if feed.readers or feed.direct or self.feeds.get(feed.group) is not feed:
                return
            del self.feeds[feed.group]
            # Under the lock: the group leaves the shared channel before a new feed of it can join.
            await feed.stop()

    async def _route(self, layer: Any) -> None:
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup: the poll keeps the readers going meanwhile
                await asyncio.sleep(1)
                continue
            feed = self.feeds.get(message.get("group", ""))
            if feed is not None:
                feed.inbox.put_nowait(message)


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    current = _hubs.get(id(loop))
    if current is None or current.loop is not loop:  # a new loop may reuse a closed one's id
        current = _hubs[id(loop)] = Hub(loop)
    return current


async def wait_wake(queue: asyncio.Queue[Wake]) -> Wake | None:
    """The next wake-up, or None for the feed's periodic tick (time to re-check)."""
    wake = queue.get_nowait() if not queue.empty() else await queue.get()
    return None if wake is TICK else wake


async def follow_batches(*, group: str, after: int, fetch: Fetch, finished: Finished | None,
                         direct: DirectSink | None = None,
                         early: tuple[Feed, asyncio.Queue[Wake], list[StreamItem]] | None = None,
                         ) -> AsyncIterator[list[StreamItem]]:
    """Yield the items after `after` in batches (an empty batch = time for a heartbeat check); stop
    after a terminal item or when `finished()` says no more items will come. A batch is what one
    read or one wake-up brought, so a writer sends it to the client in one write.

    `early`: a subscription the caller took (`Hub.subscribe`) and the rows it read *after* taking
    it: an event is either among those rows or committed later, and then its wake-up reaches the
    subscription, so the reader starts from those items instead of reading the rows and asking
    whether the stream already ended.

    The reader replays the rows after `after` itself, then takes the items its process's feed
    hands out; it reads the rows again only after a gap or READER_IDLE_SECONDS of silence."""
    if early is not None:
        feed, queue, known = early
        if known:
            feed.seed(known)
    else:
        feed, queue = await hub().subscribe(group, fetch)
    # On start and after silence (a gap alone does not mean the run ended); an early subscriber
    # saw every row, so a terminal one is among its items or still to come as a wake-up.
    check_finished = early is None
    try:
        while True:
            # Catch up from the feed's recent items or the rows (on start, after a gap, or when idle).
            while True:
                items = await feed.read_after(after)
                if not items:
                    break
                batch = _until_terminal(items)
                after = batch[-1].seq
                yield batch
                if batch[-1].terminal:
                    return
                if len(items) < PAGE:
                    break
            if finished is not None and check_finished and await feed.has_finished(finished):
                # Re-read once: the terminal row may have landed between fetch and check.
                tail = await fetch(after)
                if tail:
                    yield _until_terminal(tail)
                return
            check_finished = False
            feed.position(after)
            yield []
            if direct is not None and queue.empty():
                # Caught up: from here the feed writes this client's frames itself, until it hands
                # the reader back (a gap, a tick for re-checks and heartbeats, or the terminal event).
                writer = DirectWriter(after=after, sink=direct, wakeup=asyncio.get_running_loop().create_future(),
                                      feed=feed)
                feed.readers.discard(queue)
                feed.direct.add(writer)
                try:
                    reason = await writer.wakeup
                finally:
                    writer.leave("closed")
                    feed.readers.add(queue)
                after = writer.after
                if reason == "end":
                    return
                check_finished = reason == "tick"
                continue
            while True:
                wake = await wait_wake(queue)
                if wake is None:
                    check_finished = True
                    break  # the feed's tick: re-read what may be missing (and let the writer send a heartbeat)
                if wake.seq <= after:
                    continue  # stale
                fresh = [item for item in wake.items if item.seq > after] if wake.items else []
                if not fresh or fresh[0].seq != after + 1:
                    break  # a gap (this reader fell behind, or the feed had no position yet)
                batch = _until_terminal(fresh)
                # Wake-ups already queued behind this one join the same write.
                while not queue.empty() and not batch[-1].terminal:
                    more = queue.get_nowait()
                    if more.seq <= batch[-1].seq:
                        continue
                    extra = [item for item in more.items if item.seq > batch[-1].seq] if more.items else []
                    if not extra or extra[0].seq != batch[-1].seq + 1:
                        break  # the rest comes from the catch-up after this write
                    batch = batch + _until_terminal(extra)
                after = batch[-1].seq
                yield batch
                if batch[-1].terminal:
                    return
                if direct is not None and queue.empty():
                    break  # caught up again: back to the feed's direct writes
    finally:
        await hub().unsubscribe(feed, queue)


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
            yield frames(batch)
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
    from auth_app.authentication import bearer_user

    bearer = await bearer_user(request.headers.get("Authorization", ""), scope)
    if bearer is not None:
        return bearer
    user = await request.auser()
    if not user.is_authenticated:
        return None, error_response(401, "Authentication required.")
    return user, None
