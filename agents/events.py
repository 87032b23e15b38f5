"""Run events: a row first (per-run sequence), then a wake-up on the channel layer after commit.

Streams (SSE, WebSocket, the polling endpoint) read rows; the wake-up only shortens the wait.
With the in-memory channel layer a wake-up never leaves its process, so stream readers also
poll the DB every TAKOS_STREAM_POLL_SECONDS (the embedded default's "woken by polling").
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents.models import Run, RunEvent

logger = logging.getLogger("takos.agents")

TERMINAL_TYPES = RunEvent.TERMINAL_TYPES
MAX_DATA_BYTES = 1024 * 1024


def run_group(run_id: str) -> str:
    return f"run.{run_id}"


def notifications_group(user_id: str) -> str:
    return f"notifications.{user_id}"


_wake_loop: asyncio.AbstractEventLoop | None = None
_wake_loop_pid = 0
_wake_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop thread per process for fire-and-forget wake-ups on a network channel layer.

    `async_to_sync` from plain sync code makes a new loop per call, and channels_redis then opens
    new connections every time (~60 ms per wake here); a long-lived loop keeps its pool."""
    global _wake_loop, _wake_loop_pid
    with _wake_lock:
        if _wake_loop is None or _wake_loop_pid != os.getpid():  # a forked worker needs its own thread
            _wake_loop = asyncio.new_event_loop()
            _wake_loop_pid = os.getpid()
            threading.Thread(target=_wake_loop.run_forever, name="takos-stream-wake", daemon=True).start()
        return _wake_loop


_group_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # group -> (lock, [senders using it])


async def _send_in_order(layer: Any, group: str, message: dict[str, Any]) -> None:
    """Wake-ups of one group leave in the order they were written: concurrent `group_send`s can
    overtake each other in channels_redis, and a reader that sees a gap must read the rows.
    (Tasks start in submission order and asyncio locks are FIFO, so the lock keeps that order.)"""
    lock, users = _group_locks.setdefault(group, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            await layer.group_send(group, message)
    finally:
        users[0] -= 1
        if not users[0]:
            del _group_locks[group]


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("channel layer wake-up failed", exc_info=future.exception())


INLINE_LIMIT = 32 * 1024
_pending: list[Any] = []  # recent fire-and-forget wake-ups (futures on the background loop)


def flush_wakes(timeout: float = 0.2) -> None:
    """Wait (briefly) until the wake-ups sent so far have left, e.g. before a CPU-heavy step
    (booting an executor) that would otherwise delay them behind it on a busy machine."""
    import concurrent.futures

    futures, _pending[:] = list(_pending), []
    if futures:
        concurrent.futures.wait(futures, timeout=timeout)


def stream_item(seq: int, type: str, data: dict[str, Any], *, terminal: bool = False) -> dict[str, Any] | None:
    """The item a wake-up may carry, so readers skip the DB read when it is the next one they need."""
    import json

    if len(json.dumps(data, separators=(",", ":"))) > INLINE_LIMIT:
        return None
    return {"seq": seq, "type": type, "data": data, "terminal": terminal}


def wake(group: str, seq: int, items: list[dict[str, Any] | None] | None = None) -> None:
    """Best-effort wake-up of stream readers; losing it only costs one poll interval."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: dict[str, Any] = {"type": "stream.wake", "seq": seq}
    if items and all(item is not None for item in items):
        message["items"] = items
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # In-process only: must run on the loop the readers wait on (daphne's, via async_to_sync).
            async_to_sync(layer.group_send)(group, message)
        else:
            future = asyncio.run_coroutine_threadsafe(_send_in_order(layer, group, message), _background_loop())
            future.add_done_callback(_log_failure)
            _pending.append(future)
            del _pending[:-64]
    except Exception:  # a broken Redis must not fail the write that already committed
        logger.warning("channel layer wake-up failed for %s", group, exc_info=True)


def emit(*, run_id: str, type: str, data: dict[str, Any] | None = None) -> RunEvent:
    """Append one event to a run's stream; the caller may be inside a transaction."""
    return emit_many(run_id=run_id, events=[(type, data or {})])[-1]


def emit_many(*, run_id: str, events: list[tuple[str, dict[str, Any]]],
              lease_version: int | None = None) -> list[RunEvent]:
    """Append events in order with consecutive sequence numbers; one wake-up after commit.

    With `lease_version` (an executor's events) nothing is written, and [] returned, unless the
    run is still running under that lease, checked in the same UPDATE that reserves the
    sequence numbers: an event can never land after a cancel's terminal event."""
    with transaction.atomic():
        # The UPDATE takes the row lock, so sequences are gapless and ordered per run.
        qs = Run.objects.filter(pk=run_id)
        if lease_version is not None:
            qs = qs.filter(status=Run.Status.RUNNING, lease_version=lease_version)
        reserved = qs.update(last_event_id=F("last_event_id") + len(events))
        if not reserved and lease_version is not None:
            return []
        last = Run.objects.filter(pk=run_id).values_list("last_event_id", flat=True).get()
        first = last - len(events) + 1
        rows = RunEvent.objects.bulk_create(
            [RunEvent(run_id=run_id, seq=first + i, type=t, data=d) for i, (t, d) in enumerate(events)]
        )
        items = [stream_item(first + i, t, d, terminal=t in TERMINAL_TYPES) for i, (t, d) in enumerate(events)]
        transaction.on_commit(lambda: wake(run_group(run_id), last, items))
    return rows


def emit_known(*, run_id: str, seq: int, type: str, data: dict[str, Any]) -> RunEvent:
    """Append an event whose sequence the caller already reserved (it moved `Run.last_event_id`
    to `seq` in the same transaction, e.g. in the UPDATE that claims the run): one query less."""
    row = RunEvent.objects.create(run_id=run_id, seq=seq, type=type, data=data)
    item = stream_item(seq, type, data, terminal=type in TERMINAL_TYPES)
    transaction.on_commit(lambda: wake(run_group(run_id), seq, [item]))
    return row


def event_out(event: RunEvent) -> dict[str, Any]:
    return {
        "id": event.seq,
        "event_id": event.seq,
        "run_id": event.run_id,
        "type": event.type,
        "data": event.data,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
    }


def terminal_payload(run: Run, *, error: str | None = None, permanent: bool | None = None) -> dict[str, Any]:
    status = run.status
    body: dict[str, Any] = {"status": status, "run": {"id": run.id, "session_id": run.session_id or None}}
    if error:
        body["error"] = error
    if permanent is not None:
        body["permanent"] = permanent
    if run.usage:
        body["usage"] = run.usage
    return body


def terminal_type(status: str) -> str:
    return {"completed": "completed", "cancelled": "cancelled", "failed": "run.failed"}[status]


def now_iso() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")
