"""Reads for agents. Objects are found through the viewer's spaces first, so another tenant's
thread, run, artifact or stream is NOT_FOUND (never FORBIDDEN)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import Membership, Role, Space, User, role_at_least
from agents.models import AgentTask, Artifact, Memory, Message, Run, RunEvent, Skill, Thread, ThreadShare
from takos.api.errors import Forbidden, NotFound
from takos.api.ids import is_id
from takos.db.sql import column, select_columns, select_one, table


@dataclass(frozen=True)
class Access:
    """An object with the viewer's role in its space."""

    obj: Any
    role: str


def _role(user: User, space_id: str) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, space_id=space_id).values_list("role", flat=True).first()


def _check(obj: Any, user: User, min_role: str, what: str) -> Access:
    return _access(obj, _role(user, obj.space_id) if obj is not None else None, min_role, what)


def _access(obj: Any, role: str | None, min_role: str, what: str) -> Access:
    if obj is None or role is None:
        raise NotFound(f"{what} not found.")
    if not role_at_least(role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher in the space.")
    return Access(obj=obj, role=role)


def thread_for_user(user: User, thread_id: str, *, min_role: str = Role.VIEWER) -> Access:
    """The thread and the viewer's role in one statement (every thread endpoint starts here)."""
    found = (select_one(Thread, _thread_with_role_sql(), [user.pk, thread_id])
             if is_id(thread_id) and user.is_authenticated else None)
    if found is None:
        return _access(None, None, min_role, "Thread")
    thread, (role,) = found
    return _access(thread, role, min_role, "Thread")


@functools.cache
def _thread_with_role_sql() -> str:
    return (
        f"SELECT {select_columns(Thread, 't')}, (SELECT m.{column(Membership, 'role')} FROM {table(Membership)} m "
        f"WHERE m.{column(Membership, 'user')} = %s "
        f"AND m.{column(Membership, 'space')} = t.{column(Thread, 'space')}) AS viewer_role "
        f"FROM {table(Thread)} t WHERE t.{column(Thread, 'id')} = %s "
        f"AND t.{column(Thread, 'status')} <> '{Thread.Status.DELETED.value}'"
    )


def run_for_user(user: User, run_id: str, *, min_role: str = Role.VIEWER) -> Access:
    run = Run.objects.select_related("thread").filter(pk=run_id).first() if is_id(run_id) else None
    return _check(run, user, min_role, "Run")


def artifact_for_user(user: User, artifact_id: str) -> Access:
    artifact = Artifact.objects.filter(pk=artifact_id).first() if is_id(artifact_id) else None
    return _check(artifact, user, Role.VIEWER, "Artifact")


def memory_for_user(user: User, memory_id: str, *, min_role: str = Role.VIEWER) -> Access:
    memory = Memory.objects.filter(pk=memory_id).first() if is_id(memory_id) else None
    return _check(memory, user, min_role, "Memory")


def agent_task_for_user(user: User, task_id: str, *, min_role: str = Role.VIEWER) -> Access:
    task = AgentTask.objects.filter(pk=task_id).first() if is_id(task_id) else None
    return _check(task, user, min_role, "Agent task")


def threads_in_space(space: Space, *, status: str | None = None) -> QuerySet[Thread]:
    qs = Thread.objects.filter(space=space, parent_run__isnull=True).visible()
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-updated_at")


def thread_search(space: Space, q: str) -> QuerySet[Thread]:
    from django.db.models import Q

    ids = Message.objects.filter(thread__space=space, content__icontains=q).values("thread_id")
    return threads_in_space(space).filter(Q(title__icontains=q) | Q(id__in=ids)).distinct()


def thread_messages(thread: Thread) -> QuerySet[Message]:
    return Message.objects.filter(thread=thread).order_by("sequence")


def thread_window(thread: Thread) -> list[Message]:
    """The last `context_window` messages, oldest first: what the model sees."""
    recent = list(Message.objects.filter(thread=thread).order_by("-sequence")[: thread.context_window])
    return list(reversed(recent))


def runs_of_thread(thread: Thread, *, active_only: bool = False) -> QuerySet[Run]:
    qs = Run.objects.filter(thread=thread)
    if active_only:
        qs = qs.active()
    return qs.order_by("-created_at", "-id")


def events_after(run: Run, after: int, *, limit: int = 2000) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit])


def memories_in_space(space: Space, *, q: str | None = None, type: str | None = None) -> QuerySet[Memory]:
    qs = Memory.objects.filter(space=space)
    if q:
        qs = qs.filter(content__icontains=q)
    if type:
        qs = qs.filter(type=type)
    return qs.order_by("-importance", "-created_at")


def skills_in_space(space: Space) -> QuerySet[Skill]:
    return Skill.objects.filter(space=space).order_by("name")


def skill_in_space(space: Space, ref: str, *, by_id: bool) -> Skill:
    skill = Skill.objects.filter(space=space, **({"pk": ref} if by_id else {"name": ref})).first()
    if skill is None:
        raise NotFound("Skill not found.")
    return skill


def skills_context(space: Space) -> list[dict[str, str]]:
    """Enabled skills the agent loads: the official catalog plus the space's custom ones."""
    from agents.skills_catalog import OFFICIAL_SKILLS

    items = [{"name": s["name"], "source": "official", "instructions": s["instructions"]} for s in OFFICIAL_SKILLS]
    items += [
        {"name": s.name, "source": "custom", "instructions": s.instructions}
        for s in Skill.objects.filter(space=space, enabled=True).order_by("name")
    ]
    return items


def share_by_token(token: str) -> ThreadShare:
    from django.utils import timezone

    share = ThreadShare.objects.select_related("thread").filter(token=token).first()
    if share is None or share.revoked_at is not None or share.thread.status == Thread.Status.DELETED:
        raise NotFound("Share not found.")
    if share.expires_at is not None and share.expires_at <= timezone.now():
        raise NotFound("Share not found.")
    return share
