"""Writes for agents: the only code that changes threads, messages, runs and their satellites.

Run state moves only by compare-and-set on `status` (and on the lease columns), so a task
delivered twice, a late executor call or a racing cancel can never move a finished run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Membership, Space, User
from agents import events
from agents.models import AgentTask, Artifact, Memory, Message, Run, Skill, Thread, ThreadShare
from takos.api.errors import BadRequest, Conflict, NotFound
from takos.db.sql import column, execute, fetch_one, insert, table

if TYPE_CHECKING:
    from takos.queue import Pending

logger = logging.getLogger("takos.agents")

MULTITASK_STRATEGIES = ("reject", "enqueue", "interrupt", "rollback")
MENTION_RE = re.compile(r"(?<![\w@])@([a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?)")


# --- threads -------------------------------------------------------------------------------


def thread_create(*, space: Space, actor: User | None, title: str = "", locale: str = "",
                  parent_run: Run | None = None) -> Thread:
    return Thread.objects.create(space=space, created_by=actor, title=title[:200], locale=locale,
                                 parent_run=parent_run)


def thread_update(*, thread: Thread, data: dict[str, Any]) -> Thread:
    fields = [name for name in ("title", "locale", "status", "context_window") if name in data]
    for name in fields:
        setattr(thread, name, data[name])
    if fields:
        thread.save(update_fields=[*fields, "updated_at"])
    return thread


# --- messages ------------------------------------------------------------------------------


def message_create(*, thread: Thread, role: str, content: str = "", author: User | None = None,
                   tool_calls: list[dict[str, Any]] | None = None, tool_call_id: str = "",
                   metadata: dict[str, Any] | None = None, run: Run | None = None,
                   operation_key: str = "", thread_locked: bool = False) -> Message:
    """Append a message; with `operation_key` a replay returns the message stored the first time.
    `thread_locked`: the caller's transaction already holds the thread row lock."""
    if operation_key and run is not None:
        existing = Message.objects.filter(run=run, operation_key=operation_key).first()
        if existing is not None:
            return existing
    # Under the caller's transaction (thread_locked) no savepoint of its own: an error ends both.
    with transaction.atomic() if not thread_locked else contextlib.nullcontext():
        if not thread_locked:
            # Lock the thread row so two writers never pick the same sequence number.
            _touch_thread(thread.pk)
        last = execute(_statements()["last_message"], [thread.pk])[0][0] or 0
        fields: dict[str, Any] = {
            "thread": thread, "role": role, "content": content or "", "author": author,
            "tool_calls": tool_calls or None, "tool_call_id": tool_call_id or "", "metadata": metadata or {},
            "run": run, "sequence": last + 1, "operation_key": operation_key,
        }
        if not operation_key:
            message = Message(**fields)
            insert(message)
        else:
            try:
                with transaction.atomic():  # a racing replay of the same operation loses here
                    message = Message.objects.create(**fields)
            except IntegrityError:
                return Message.objects.get(run=run, operation_key=operation_key)
        if role == Message.Role.USER and author is not None:
            _notify_mentions(thread=thread, message=message, author=author)
    return message


@functools.cache
def _statements() -> dict[str, str]:
    """Statements of the run-start path, written once from the models' tables and columns: the
    ORM's query building cost more than these small queries themselves."""
    active = ", ".join(f"'{status}'" for status in Run.ACTIVE)
    return {
        # An UPDATE locks the row on PostgreSQL; on SQLite the IMMEDIATE transaction holds the lock.
        "touch_thread": f"UPDATE {table(Thread)} SET {column(Thread, 'updated_at')} = %s "
                        f"WHERE {column(Thread, 'id')} = %s",
        "touch_thread_active": f"UPDATE {table(Thread)} SET {column(Thread, 'updated_at')} = %s "
                               f"WHERE {column(Thread, 'id')} = %s RETURNING (SELECT COUNT(*) FROM {table(Run)} "
                               f"WHERE {column(Run, 'thread')} = %s AND {column(Run, 'status')} IN ({active}))",
        "active_runs": f"SELECT {column(Run, 'id')} FROM {table(Run)} WHERE {column(Run, 'thread')} = %s "
                       f"AND {column(Run, 'status')} IN ({active}) ORDER BY {column(Run, 'created_at')}",
        "last_message": f"SELECT MAX({column(Message, 'sequence')}) FROM {table(Message)} "
                        f"WHERE {column(Message, 'thread')} = %s",
    }


def _touch_thread(thread_id: str) -> None:
    execute(_statements()["touch_thread"], [connection.ops.adapt_datetimefield_value(timezone.now()), thread_id])


def _touch_thread_counting_active(thread_id: str) -> int:
    row = fetch_one(_statements()["touch_thread_active"],
                    [connection.ops.adapt_datetimefield_value(timezone.now()), thread_id, thread_id])
    return row[0] if row else 0


def _active_run_ids(thread_id: str) -> list[str]:
    return [row[0] for row in execute(_statements()["active_runs"], [thread_id])]


def _notify_mentions(*, thread: Thread, message: Message, author: User) -> None:
    names = {m.lower() for m in MENTION_RE.findall(message.content)} - {author.username.lower()}
    if not names:
        return
    from platform_app.notifications.services import notification_create

    members = Membership.objects.filter(space=thread.space, user__username__in=names).select_related("user")
    for membership in members:
        notification_create(
            recipient=membership.user, space=thread.space, type="thread.mention",
            title=f"@{author.username} mentioned you in {thread.title or 'a thread'}",
            body=message.content[:500], data={"thread_id": thread.id, "message_id": message.id},
        )


# --- runs ----------------------------------------------------------------------------------


def _run_task(run_id: str) -> tuple[Any, dict[str, Any], str]:
    """A run's task as `takos.queue` sends it: (task, its arguments, queue)."""
    from agents.tasks import execute_run

    return execute_run, {"run_id": run_id}, "run"


def send_start(run_id: str) -> None:
    """Send a queued run's task (after a commit, or for a caller whose own early send failed)."""
    from takos import queue

    queue.send(*_run_task(run_id))  # one LPUSH: a run start waits on it


def begin_start(run_id: str) -> Pending | None:
    """A new run's task written to the broker before its create, its reply unread (for
    `queue.push_end`), or None where the task is sent after the commit."""
    from takos import queue

    return queue.push_begin(*_run_task(run_id))


def _send_start(run_id: str, *, before_commit: bool) -> bool:
    """Send a new run's task; `before_commit`: now, before the creating transaction commits (it is
    the outermost one, so its commit follows within a millisecond). True when it left now.

    The worker needs ~2 ms to receive a task and hand it to a process, longer than the whole
    create (the thread's check, the run, the message, the first event, the commit), so the two
    overlap instead of adding up: a run start waits on this. The task's claim waits until the row
    is visible (agents.tasks.claim). Inside a caller's transaction (which may last longer than
    that wait), in eager mode (it would run the task right here) and on brokers other than plain
    Redis, the task is sent after the commit."""
    from takos import queue

    if before_commit and queue.push(*_run_task(run_id)):
        return True
    transaction.on_commit(lambda: send_start(run_id))
    return False


def abandon_start(run_id: str) -> None:
    """A create whose task left before it began did not commit: its claim stops waiting for the row."""
    from takos import queue

    try:
        queue.mark_abandoned(run_id)
    except Exception:  # the claim then gives up after TAKOS_RUN_VISIBLE_SECONDS
        logger.warning("run %s: could not mark the rolled-back start", run_id, exc_info=True)


def run_create(*, thread: Thread, actor: User | None, agent_type: str = "default", input: Any = None,
               parent_run: Run | None = None, model: str = "", multitask_strategy: str = "enqueue",
               run_id: str | None = None, task_sent: bool = False) -> Run:
    """Create a run on `thread` following the multitask strategy (LangGraph semantics).

    `run_id`: the new run's id, chosen by a caller that subscribed to its stream already.
    `task_sent`: that caller sent the run's task already (agents/api/run_start_asgi.py).

    reject: 409 while another run of the thread is active. enqueue: the run waits as
    `pending` until the active ones end. interrupt: active runs are cancelled first.
    rollback: active runs are cancelled and deleted with the messages they wrote.
    """
    if multitask_strategy not in MULTITASK_STRATEGIES:
        raise BadRequest(f"multitask_strategy must be one of {', '.join(MULTITASK_STRATEGIES)}.")
    if parent_run is not None and parent_run.space_id != thread.space_id:
        raise NotFound("Parent run not found.")
    payload = input if isinstance(input, dict) else ({} if input is None else {"message": input})
    root = parent_run.root_run if parent_run is not None and parent_run.root_run_id else parent_run
    # A new run's first event is seq 1: nobody else knows the run yet, so no counter round trip.
    run = Run(
        thread=thread, space_id=thread.space_id, requester=actor, agent_type=agent_type or "default",
        model=model or "", input=payload, parent_run=parent_run, root_run=root,
        root_thread_id=(root.thread_id if root else thread.pk), multitask_strategy=multitask_strategy,
        status=Run.Status.QUEUED, last_event_id=1,
    )
    if run_id is not None:
        run.id = run_id
    # From the outermost transaction the task leaves before the create begins (its id is already
    # chosen), so the worker's receive overlaps all of it. Not under `reject`, which often refuses:
    # there it leaves once the run is known to be queued. If the run turns out `pending` (another
    # run is active), the early task finds nothing to claim and ends; the run starts when its turn
    # comes (_start_next_pending).
    outermost = not connection.in_atomic_block
    sent = task_sent or (outermost and multitask_strategy != "reject" and _send_start(run.id, before_commit=True))
    try:
        _create_run(run, thread=thread, actor=actor, payload=payload, multitask_strategy=multitask_strategy,
                    sent=sent, outermost=outermost)
    except BaseException:
        # Its own task may have left, before the create or (reject) inside it; a caller that sent
        # the task settles it itself (agents/api/run_start_asgi.py).
        if outermost and not task_sent:
            abandon_start(run.id)
        raise
    return run


def first_event(status: str) -> tuple[str, dict[str, Any]]:
    """A new run's event 1 (type, data), for a run created `queued` or `pending`."""
    return "run_status", {"status": status}


def _create_run(run: Run, *, thread: Thread, actor: User | None, payload: dict[str, Any], multitask_strategy: str,
                sent: bool, outermost: bool) -> None:
    """run_create's transaction: the strategy against the active runs, the run, its message and first event."""
    with transaction.atomic():
        # The thread's row lock and whether any run is active, in one statement; their ids (in
        # order) only when there are some.
        active_ids = _active_run_ids(thread.pk) if _touch_thread_counting_active(thread.pk) else []
        if active_ids and multitask_strategy == "reject":
            raise Conflict("The thread already has an active run.", details={"active_run_ids": active_ids})
        if active_ids and multitask_strategy in ("interrupt", "rollback"):
            active = list(Run.objects.filter(pk__in=active_ids).order_by("created_at"))
            for other in active:
                run_cancel(run=other, reason=f"Interrupted by a new run ({multitask_strategy}).")
            if multitask_strategy == "rollback":
                Message.objects.filter(run__in=active).delete()
                Run.objects.filter(pk__in=active_ids).delete()
            active_ids = []
        if active_ids:
            run.status = Run.Status.PENDING
        insert(run)
        if run.status == Run.Status.QUEUED and not sent:
            _send_start(run.id, before_commit=outermost)
        text = payload.get("message") or payload.get("content")
        if isinstance(text, str) and text.strip():
            message_create(thread=thread, role=Message.Role.USER, content=text, author=actor, run=run,
                           thread_locked=True)
        # Nobody can be subscribed to a run that is being created (its readers subscribe, then read
        # the rows), so its first event publishes no wake-up: a PUBLISH less while the worker starts.
        type, data = first_event(run.status)
        events.emit_known(run_id=run.id, seq=1, type=type, data=data, wake_readers=False)


def run_spawn(*, parent: Run, message: str, agent_type: str = "default") -> Run:
    """A sub-run on its own child thread, so it never queues behind its parent."""
    child_thread = thread_create(space=parent.space, actor=parent.requester, title=f"Sub-run of {parent.id}",
                                 parent_run=parent)
    return run_create(thread=child_thread, actor=parent.requester, agent_type=agent_type,
                      input={"message": message}, parent_run=parent)


def _start_next_pending(thread_id: str) -> None:
    """After a run ends, the oldest `pending` run of the thread (enqueue strategy) goes next."""
    if Run.objects.filter(thread_id=thread_id, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)).exists():
        return
    nxt = Run.objects.filter(thread_id=thread_id, status=Run.Status.PENDING).order_by("created_at").first()
    if nxt is None:
        return
    if Run.objects.filter(pk=nxt.pk, status=Run.Status.PENDING).update(status=Run.Status.QUEUED):
        events.emit(run_id=nxt.id, type="run_status", data={"status": "queued"})
        transaction.on_commit(lambda: send_start(nxt.id))


def _finish(run: Run, *, status: str, extra: dict[str, Any], error: str = "",
            permanent: bool | None = None, expect: tuple[str, ...] = Run.ACTIVE,
            lease: tuple[str, int] | None = None) -> bool:
    """Move an active run to a terminal status once; emit the terminal event and notify."""
    now = timezone.now()
    with transaction.atomic():
        qs = Run.objects.filter(pk=run.pk, status__in=expect)
        if lease is not None:
            qs = qs.filter(service_id=lease[0], lease_version=lease[1])
        if not qs.update(status=status, completed_at=now, error=error[:10000], service_id=None, **extra):
            return False
        run.refresh_from_db()
        events.emit(run_id=run.id, type=events.terminal_type(status),
                    data=events.terminal_payload(run, error=error or None, permanent=permanent))
        if status in (Run.Status.COMPLETED, Run.Status.FAILED) and run.requester_id:
            _notify_run_end(run)
        _start_next_pending(run.thread_id)
    return True


def _notify_run_end(run: Run) -> None:
    from platform_app.notifications.services import notification_create

    ok = run.status == Run.Status.COMPLETED
    notification_create(
        recipient=run.requester, space=run.space, type="run.completed" if ok else "run.failed",
        title=f"Run {'completed' if ok else 'failed'}: {run.thread.title or run.thread_id}",
        body=(run.output if ok else run.error)[:500],
        data={"run_id": run.id, "thread_id": run.thread_id, "status": run.status},
    )


def run_cancel(*, run: Run, reason: str = "Cancelled by user.") -> Run:
    """Cancel an active run: status first (the executor notices within its poll), then the event."""
    if run.is_terminal:
        raise BadRequest(f"The run is already {run.status}.")
    if not _finish(run, status=Run.Status.CANCELLED, extra={}, error=reason):
        run.refresh_from_db()
        raise BadRequest(f"The run is already {run.status}.")
    return run


def run_complete(*, run: Run, lease: tuple[str, int] | None, output: str, usage: dict[str, Any]) -> bool:
    return _finish(run, status=Run.Status.COMPLETED, extra={"output": output, "usage": usage}, lease=lease,
                   expect=(Run.Status.RUNNING,))


def run_fail(*, run: Run, error: str, permanent: bool = True, lease: tuple[str, int] | None = None,
             usage: dict[str, Any] | None = None) -> bool:
    extra = {"usage": usage} if usage else {}
    return _finish(run, status=Run.Status.FAILED, extra=extra, error=error, permanent=permanent, lease=lease)


# --- leases --------------------------------------------------------------------------------


def run_claim(*, run_id: str) -> tuple[str, int] | None:
    """Take the lease of a queued run (compare-and-set); None when someone else has it or it ended."""
    lease_id = uuid.uuid4().hex
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic():
        # One statement claims the run, reserves the `started` event's sequence number and reads
        # back what the event needs (RETURNING: SQLite 3.35+, PostgreSQL): the worker's start is
        # on every run start's critical path.
        row = fetch_one(_claim_sql(), [Run.Status.RUNNING, lease_id, now, now, run_id, Run.Status.QUEUED])
        if row is None:
            return None
        version, recoveries, seq = row
        events.emit_known(run_id=run_id, seq=seq, type="started",
                          data={"status": "running", "attempt": recoveries + 1, "lease_version": version})
    return lease_id, version


@functools.cache
def _claim_sql() -> str:
    def col(name: str) -> str:
        return column(Run, name)

    return (
        f"UPDATE {table(Run)} SET {col('status')} = %s, {col('service_id')} = %s, "
        f"{col('service_heartbeat')} = %s, {col('started_at')} = %s, "
        f"{col('lease_version')} = {col('lease_version')} + 1, {col('last_event_id')} = {col('last_event_id')} + 1 "
        f"WHERE {col('id')} = %s AND {col('status')} = %s AND {col('service_id')} IS NULL "
        f"RETURNING {col('lease_version')}, {col('recovery_count')}, {col('last_event_id')}"
    )


def run_heartbeat(*, run_id: str, lease: tuple[str, int]) -> bool:
    """Renew the lease; False means it was lost (cancelled, finished or recovered)."""
    return bool(
        Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, service_id=lease[0], lease_version=lease[1])
        .update(service_heartbeat=timezone.now())
    )


def runs_recover_expired(*, limit: int = 50) -> dict[str, int]:
    """Recovery cron: running runs whose lease expired are requeued once, then failed with the reason."""
    cutoff = timezone.now() - timedelta(seconds=settings.TAKOS_RUN_LEASE_SECONDS)
    stale = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(service_heartbeat__lt=cutoff) | Q(service_heartbeat__isnull=True)
    ).order_by("service_heartbeat")[:limit]
    counts = {"requeued": 0, "failed": 0}
    for run in stale:
        if run.recovery_count >= settings.TAKOS_RUN_MAX_RECOVERIES:
            reason = f"The run's worker stopped heartbeating (lease expired after {run.recovery_count} recovery)."
            if run_fail(run=run, error=reason, permanent=True, lease=(run.service_id, run.lease_version)):
                counts["failed"] += 1
            continue
        with transaction.atomic():
            # lease_version moves on, so a surviving executor of the old attempt gets 409 "Lease lost".
            moved = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, service_id=run.service_id,
                                       lease_version=run.lease_version).update(
                status=Run.Status.QUEUED, service_id=None, service_heartbeat=None,
                recovery_count=F("recovery_count") + 1, lease_version=F("lease_version") + 1,
            )
            if moved:
                events.emit(run_id=run.id, type="run_status",
                            data={"status": "queued", "reason": "lease expired; requeued"})
                transaction.on_commit(lambda rid=run.id: send_start(rid))
                counts["requeued"] += 1
    return counts


def runs_requeue_stuck_queued(*, older_than_seconds: int = 600) -> int:
    """Queued runs whose message was lost (broker restart) get enqueued again; the claim dedupes."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(Run.objects.filter(status=Run.Status.QUEUED, created_at__lt=cutoff).values_list("id", flat=True)[:50])
    for run_id in ids:
        transaction.on_commit(lambda rid=run_id: send_start(rid))
    return len(ids)


# --- artifacts, memories, skills, tasks, shares ----------------------------------------------


def artifact_create(*, run: Run, type: str = "code", title: str = "", content: str = "", file_id: str = "",
                    metadata: dict[str, Any] | None = None) -> Artifact:
    artifact = Artifact.objects.create(run=run, space_id=run.space_id, type=type, title=title[:200],
                                       content=content, file_id=file_id or "", metadata=metadata or {})
    events.emit(run_id=run.id, type="artifact", data={"artifact_id": artifact.id, "type": type, "title": title})
    return artifact


def memory_create(*, space: Space, author: User | None, data: dict[str, Any]) -> Memory:
    if Memory.objects.filter(space=space).count() >= Memory.MAX_PER_SPACE:
        raise Conflict(f"A space holds at most {Memory.MAX_PER_SPACE} memories.")
    thread_id = data.pop("thread_id", None)
    if thread_id and not Thread.objects.filter(pk=thread_id, space=space).exists():
        raise NotFound("Thread not found.")
    return Memory.objects.create(space=space, author=author, thread_id=thread_id or None, **data)


def memory_update(*, memory: Memory, data: dict[str, Any]) -> Memory:
    for key, value in data.items():
        setattr(memory, key, value)
    memory.save()
    return memory


def skill_create(*, space: Space, data: dict[str, Any]) -> Skill:
    if Skill.objects.filter(space=space, name=data["name"]).exists():
        raise Conflict("A skill with that name already exists in this space.")
    return Skill.objects.create(space=space, **data)


def skill_update(*, skill: Skill, data: dict[str, Any]) -> Skill:
    if "name" in data and Skill.objects.filter(space_id=skill.space_id, name=data["name"]).exclude(pk=skill.pk).exists():
        raise Conflict("A skill with that name already exists in this space.")
    for key, value in data.items():
        setattr(skill, key, value)
    skill.save()
    return skill


def agent_task_create(*, space: Space, actor: User, data: dict[str, Any]) -> AgentTask:
    create_thread = data.pop("create_thread", False)
    thread_id = data.pop("thread_id", None)
    if thread_id and not Thread.objects.filter(pk=thread_id, space=space).exists():
        raise NotFound("Thread not found.")
    task = AgentTask(space=space, created_by=actor, thread_id=thread_id or None, **data)
    if create_thread and not thread_id:
        task.thread = thread_create(space=space, actor=actor, title=task.title)
    task.save()
    return task


def agent_task_update(*, task: AgentTask, data: dict[str, Any]) -> AgentTask:
    now = timezone.now()
    for key, value in data.items():
        setattr(task, key, value)
    if data.get("status") == AgentTask.Status.IN_PROGRESS and task.started_at is None:
        task.started_at = now
    if data.get("status") in (AgentTask.Status.COMPLETED, AgentTask.Status.CANCELLED):
        task.completed_at = now
    task.save()
    return task


def share_create(*, thread: Thread, actor: User, mode: str = "public", password: str = "",
                 expires_at: Any = None, expires_in_days: int | None = None) -> tuple[ThreadShare, str]:
    if mode == ThreadShare.Mode.PASSWORD and len(password or "") < 4:
        raise BadRequest("A password share needs a password of at least 4 characters.")
    if expires_in_days:
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    token = secrets.token_urlsafe(24)
    share = ThreadShare.objects.create(
        thread=thread, space_id=thread.space_id, created_by=actor, token=token, mode=mode,
        password_hash=make_password(password) if mode == ThreadShare.Mode.PASSWORD else "", expires_at=expires_at,
    )
    return share, token


def share_revoke(*, share: ThreadShare) -> ThreadShare:
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
    return share


def share_access(*, share: ThreadShare, password: str | None) -> None:
    """Public shares open freely; password shares need the password (404 otherwise, no oracle)."""
    if share.mode == ThreadShare.Mode.PASSWORD and not (password and check_password(password, share.password_hash)):
        from takos.api.errors import Unauthorized

        raise Unauthorized("This share needs its password.")
    ThreadShare.objects.filter(pk=share.pk).update(last_accessed_at=timezone.now())
