"""Run events: a row first (per-run sequence), then a wake-up on the channel layer after commit.

Streams (SSE, WebSocket, the polling endpoint) read rows; the wake-up only shortens the wait.
With the in-memory channel layer a wake-up never leaves its process, so stream readers also
poll the DB every TAKOS_STREAM_POLL_SECONDS (the embedded default's "woken by polling").
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.models import Run, RunEvent
from takos import layer
from takos.db.sql import column, execute, table

logger = logging.getLogger("takos.agents")

TERMINAL_TYPES = RunEvent.TERMINAL_TYPES
MAX_DATA_BYTES = 1024 * 1024


def run_group(run_id: str) -> str:
    return f"run.{run_id}"


def notifications_group(user_id: str) -> str:
    return f"notifications.{user_id}"


INLINE_LIMIT = 32 * 1024


def stream_item(seq: int, type: str, data: dict[str, Any], *, terminal: bool = False) -> dict[str, Any] | None:
    """The item a wake-up may carry, so readers skip the DB read when it is the next one they need."""
    import json

    if len(json.dumps(data, separators=(",", ":"))) > INLINE_LIMIT:
        return None
    return {"seq": seq, "type": type, "data": data, "terminal": terminal}


def wake(group: str, seq: int, items: list[dict[str, Any] | None] | None = None) -> None:
    """Best-effort wake-up of stream readers; losing it only costs one poll interval."""
    # `group`: a process's stream hub receives every group it follows on one channel (agents.streams.Hub).
    message: dict[str, Any] = {"type": "stream.wake", "group": group, "seq": seq}
    if items and all(item is not None for item in items):
        message["items"] = items
    layer.group_send(group, message)


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


def emit_known(*, run_id: str, seq: int, type: str, data: dict[str, Any], wake_readers: bool = True) -> None:
    """Append an event whose sequence the caller already reserved (it moved `Run.last_event_id`
    to `seq` in the same transaction, e.g. in the UPDATE that claims the run): one query less.
    Both run starts (the create and the worker's claim) write one this way, so the INSERT is
    written once rather than built by the ORM each time. `wake_readers=False`: no reader can be
    listening yet (the run is being created), so no wake-up is published."""
    data_field = RunEvent._meta.get_field("data")
    execute(_insert_event_sql(), [
        run_id, seq, type, data_field.get_db_prep_value(data, connection),
        connection.ops.adapt_datetimefield_value(timezone.now()),
    ])
    item = stream_item(seq, type, data, terminal=type in TERMINAL_TYPES)
    if wake_readers:
        transaction.on_commit(lambda: wake(run_group(run_id), seq, [item]))


def rows_after(run_id: str, after: int, limit: int = 500) -> list[tuple[int, str, Any]]:
    """(seq, type, data) of the run's events after `after`, in order: what every stream reads on
    start and after a gap, written once rather than built by the ORM for each read."""
    data_field = RunEvent._meta.get_field("data")
    return [(seq, type, data_field.from_db_value(data, None, connection))
            for seq, type, data in execute(_select_events_sql(), [run_id, after, limit])]


@functools.cache
def _select_events_sql() -> str:
    def col(name: str) -> str:
        return column(RunEvent, name)

    return (f"SELECT {col('seq')}, {col('type')}, {col('data')} FROM {table(RunEvent)} "
            f"WHERE {col('run')} = %s AND {col('seq')} > %s ORDER BY {col('seq')} LIMIT %s")


@functools.cache
def _insert_event_sql() -> str:
    columns = ", ".join(column(RunEvent, name) for name in ("run", "seq", "type", "data", "created_at"))
    return f"INSERT INTO {table(RunEvent)} ({columns}) VALUES (%s, %s, %s, %s, %s)"


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
