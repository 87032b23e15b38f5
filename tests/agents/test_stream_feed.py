"""The per-process stream feed: many local readers of one stream share one channel-layer
subscription and one DB read per gap, and each reader gets every item once, in order.

Runs on the configured channel layer (in-memory, or Redis when REDIS_URL is set). The rows are
an in-memory list behind the same `fetch(after)` function the real streams pass (the DB read is
what is counted here); everything else is the real code."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import pytest
from channels.layers import get_channel_layer

from agents.streams import StreamItem, follow_batches, hub

READERS = 40


def test_readers_share_one_read_per_gap_and_get_every_item_in_order(settings) -> None:
    settings.TAKOS_STREAM_POLL_SECONDS = 30  # no poll during the test: only wake-ups and gaps
    asyncio.run(_scenario())


async def _scenario() -> None:
    group = f"run.test-{uuid.uuid4().hex[:10]}"
    rows: list[StreamItem] = []
    reads: list[int] = []

    async def fetch(after: int) -> list[StreamItem]:
        reads.append(after)
        return [StreamItem(r.seq, r.type, r.data, r.terminal) for r in rows if r.seq > after]

    def add(seq: int, *, terminal: bool = False) -> dict:
        item = StreamItem(seq, "completed" if terminal else "message", {"n": seq}, terminal)
        rows.append(item)
        return {"seq": seq, "type": item.type, "data": item.data, "terminal": terminal}

    got: list[list[int]] = [[] for _ in range(READERS)]
    ready = asyncio.Event()
    positioned = 0

    async def reader(index: int) -> None:
        nonlocal positioned
        live = False
        async for batch in follow_batches(group=group, after=0, fetch=fetch, finished=None):
            if not batch and not live:  # the replay is done: from here on the feed hands items out
                live = True
                positioned += 1
                if positioned == READERS:
                    ready.set()
            got[index].extend(item.seq for item in batch)

    layer = get_channel_layer()
    add(1)
    tasks = [asyncio.create_task(reader(i)) for i in range(READERS)]
    await asyncio.wait_for(ready.wait(), 20)
    start_reads = len(reads)
    assert start_reads == 1  # readers that join together share one replay read

    # A reader joining later replays from the feed's recent items, not from the rows.
    late: list[int] = []

    async def late_reader() -> None:
        async for batch in follow_batches(group=group, after=0, fetch=fetch, finished=None):
            late.extend(item.seq for item in batch)

    late_task = asyncio.create_task(late_reader())

    async def until(seq: int) -> None:
        for _ in range(400):
            if all(g and g[-1] >= seq for g in got):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"readers stuck before {seq}: {[g[-3:] for g in got[:3]]}")

    # 1. A wake-up carrying the next items: handed out as is, no read at all.
    items = [add(2), add(3)]
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 3, "items": items})
    await until(3)
    assert len(reads) == start_reads
    # 2. A wake-up without its items (too big to carry): the feed reads the rows once for everyone.
    add(4), add(5)
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 5})
    await until(5)
    assert len(reads) == start_reads + 1
    # 3. A gap (the wake-up for 6 was lost): one read again, then 6 and 7 reach every reader in order.
    add(6)
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 7, "items": [add(7)]})
    await until(7)
    assert len(reads) == start_reads + 2
    # 4. A stale wake-up changes nothing; the terminal item ends every reader.
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 3, "items": items})
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 8, "items": [add(8, terminal=True)]})
    await asyncio.wait_for(asyncio.gather(*tasks, late_task), 10)
    assert len(reads) == start_reads + 2
    assert late == list(range(1, 9))
    assert all(g == list(range(1, 9)) for g in got), got[:3]
    assert group not in hub().feeds  # the last reader's exit closed the feed


class CollectingSink:
    """A client the feed writes to directly; `refuse` simulates a server that would have to wait."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.refuse = 0

    def write_now(self, chunk: bytes) -> bool:
        if self.refuse:
            self.refuse -= 1
            return False
        self.chunks.append(chunk)
        return True

    def ids(self) -> list[int]:
        """The event ids in the order the client received them."""
        import re

        return [int(m) for chunk in self.chunks for m in re.findall(rb"^id: (\d+)$", chunk, re.M)]


def test_direct_readers_get_every_item_once_through_gaps_ticks_and_back_pressure(settings) -> None:
    settings.TAKOS_STREAM_POLL_SECONDS = 30
    settings.TAKOS_SSE_HEARTBEAT_SECONDS = 0.2  # the feed's tick hands readers back every 0.2 s
    asyncio.run(_direct_scenario())


async def _direct_scenario() -> None:
    from agents.streams import Wake

    group = f"run.test-{uuid.uuid4().hex[:10]}"
    rows: list[StreamItem] = []

    async def fetch(after: int) -> list[StreamItem]:
        return [StreamItem(r.seq, r.type, r.data, r.terminal) for r in rows if r.seq > after]

    def add(seq: int, *, terminal: bool = False) -> dict:
        item = StreamItem(seq, "completed" if terminal else "message", {"n": seq}, terminal)
        rows.append(item)
        return {"seq": seq, "type": item.type, "data": item.data, "terminal": terminal}

    sinks = [CollectingSink() for _ in range(10)]
    yielded: list[list[list[int]]] = [[] for _ in sinks]  # what the readers' own tasks wrote

    async def reader(index: int) -> None:
        async for batch in follow_batches(group=group, after=0, fetch=fetch, finished=None, direct=sinks[index]):
            if batch:  # the reader's own writes go to the same client, in order with the feed's
                sinks[index].chunks.append(b"".join(item.frame() for item in batch))
                yielded[index].append([item.seq for item in batch])

    layer = get_channel_layer()
    add(1)
    tasks = [asyncio.create_task(reader(i)) for i in range(len(sinks))]
    for _ in range(200):
        feed = hub().feeds.get(group)
        if feed is not None and len(feed.direct) == len(sinks):
            break
        await asyncio.sleep(0.01)
    assert len(hub().feeds[group].direct) == len(sinks)  # caught up: the feed writes for them
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 2, "items": [add(2)]})
    sinks[0].refuse = 1  # back-pressure on one client: it must get 3 from its own catch-up
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 3, "items": [add(3)]})
    add(4)  # a lost wake-up: the next one is a gap for everyone
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 5, "items": [add(5)]})
    await asyncio.sleep(0.5)  # a tick or two hands every reader back and forth
    hub().feeds[group]._push(Wake(seq=6, items=[StreamItem(**add(6))]))
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 7, "items": [add(7, terminal=True)]})
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    for sink in sinks:
        assert sink.ids() == list(range(1, 8)), sink.chunks  # each item once, in order, none missing
    assert len(sinks[1].chunks) > len(yielded[1])  # some of them the feed wrote directly
    assert group not in hub().feeds


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set in CI): the Redis pub/sub layer")
def test_a_stream_that_starts_after_a_quiet_spell_is_woken_at_once(settings) -> None:
    """channels_redis' pub/sub reader sleeps 100 ms at a time while its connection has no
    subscription; the hub's channel keeps one, so a stream that starts after every other
    stream of the process ended gets its first wake-up at once."""
    settings.TAKOS_STREAM_POLL_SECONDS = 30  # wake-ups only
    delays = asyncio.run(_quiet_spells(trials=6))
    assert statistics.median(delays) < 0.03, delays


async def _quiet_spells(trials: int) -> list[float]:
    layer = get_channel_layer()
    delays = []
    for _ in range(trials):
        group = f"run.test-{uuid.uuid4().hex[:10]}"
        rows = [StreamItem(1, "message", {"n": 1})]

        async def fetch(after: int, rows: list[StreamItem] = rows) -> list[StreamItem]:
            return [item for item in rows if item.seq > after]

        positioned, woken = asyncio.Event(), asyncio.Event()

        async def reader(group: str = group, positioned: asyncio.Event = positioned,
                         woken: asyncio.Event = woken, fetch: Any = fetch) -> None:
            async for batch in follow_batches(group=group, after=0, fetch=fetch, finished=None):
                if not batch:
                    positioned.set()
                elif batch[-1].seq == 2:
                    woken.set()
                    return

        task = asyncio.create_task(reader())
        await asyncio.wait_for(positioned.wait(), 10)
        rows.append(StreamItem(2, "message", {"n": 2}))
        sent = time.perf_counter()
        await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 2, "items": [
            {"seq": 2, "type": "message", "data": {"n": 2}, "terminal": False}]})
        await asyncio.wait_for(woken.wait(), 10)
        delays.append(time.perf_counter() - sent)
        await task  # the reader ends, its feed stops: the process has no stream left
        await asyncio.sleep(0.25)  # a quiet spell
    return delays


def test_an_early_subscriber_starts_from_its_own_rows_and_misses_nothing(settings) -> None:
    """POST /runs/stream subscribes before the run exists and reads the rows after the commit: the
    reader starts from those rows with no read and no 'has it ended?' check of its own, and a
    wake-up that arrived before the reader started (the worker's `started`) is not lost."""
    settings.TAKOS_STREAM_POLL_SECONDS = 30
    asyncio.run(_early_scenario())


async def _early_scenario() -> None:
    group = f"run.test-{uuid.uuid4().hex[:10]}"
    calls: list[str] = []

    async def fetch(after: int) -> list[StreamItem]:
        calls.append(f"fetch {after}")
        return []

    async def finished() -> bool:
        calls.append("finished")
        return False

    feed, queue = await hub().subscribe(group, fetch)
    known = [StreamItem(1, "run_status", {"status": "queued"}, False)]
    layer = get_channel_layer()
    # Published after the subscription, before the stream's reader starts.
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 2,
                                   "items": [{"seq": 2, "type": "started", "data": {}, "terminal": False}]})
    await layer.group_send(group, {"type": "stream.wake", "group": group, "seq": 3,
                                   "items": [{"seq": 3, "type": "completed", "data": {}, "terminal": True}]})
    got: list[int] = []

    async def read() -> None:
        async for batch in follow_batches(group=group, after=0, fetch=fetch, finished=finished,
                                          early=(feed, queue, known)):
            got.extend(item.seq for item in batch)

    await asyncio.wait_for(read(), 10)
    assert got == [1, 2, 3] and calls == []
    assert group not in hub().feeds  # the reader gave the subscription back when it ended
