"""Agent APIs: threads, messages, runs, events, artifacts, memories, skills, tasks, shares."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role, role_at_least
from accounts.selectors import resolve_space
from agents import events, selectors, services
from agents.api.serializers import (
    AgentTaskIn,
    AgentTaskPatchIn,
    ArtifactIn,
    MemoryIn,
    MemoryUpdateIn,
    MessageCreateIn,
    RunCreateIn,
    ShareAccessIn,
    ShareIn,
    SkillIn,
    SkillPatchIn,
    ThreadCreateIn,
    ThreadUpdateIn,
    agent_task_out,
    artifact_out,
    iso,
    memory_out,
    message_out,
    run_out,
    share_out,
    skill_out,
    thread_out,
)
from agents.models import AgentTask, Artifact, Message, Thread, ThreadShare
from agents.skills_catalog import OFFICIAL_SKILLS, official_skill
from takos.api.errors import BadRequest, NotFound
from takos.api.pagination import paginate
from takos.api.views import ApiView, PublicApiView, validate


def _many(fn: Any) -> Any:
    return lambda items: [fn(i) for i in items]


# --- threads -------------------------------------------------------------------------------


class SpaceThreadsView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        qs = selectors.threads_in_space(space, status=request.query_params.get("status") or None)
        return Response(paginate(request, qs, key="threads", serialize=_many(thread_out)))

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.EDITOR).space
        data = self.parse(ThreadCreateIn, request)
        thread = services.thread_create(space=space, actor=request.user, title=data["title"], locale=data["locale"])
        return Response({"thread": thread_out(thread)}, status=status.HTTP_201_CREATED)


class SpaceThreadSearchView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        q = (request.query_params.get("q") or "").strip()
        if not q:
            raise BadRequest("q is required.")
        return Response(paginate(request, selectors.thread_search(space, q), key="threads",
                                 serialize=_many(thread_out)))


class ThreadView(ApiView):
    scope = "threads"

    def get(self, request: Request, thread_id: str) -> Response:
        access = selectors.thread_for_user(request.user, thread_id)
        return Response({"thread": thread_out(access.obj), "role": access.role})

    def patch(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        thread = services.thread_update(thread=thread, data=self.parse(ThreadUpdateIn, request))
        return Response({"thread": thread_out(thread)})

    def delete(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        services.thread_update(thread=thread, data={"status": Thread.Status.DELETED})
        return Response({"success": True})


class ThreadArchiveView(ApiView):
    scope = "threads"
    target = Thread.Status.ARCHIVED

    def post(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        return Response({"thread": thread_out(services.thread_update(thread=thread, data={"status": self.target}))})


class ThreadUnarchiveView(ThreadArchiveView):
    target = Thread.Status.ACTIVE


class ThreadMessagesView(ApiView):
    scope = "threads"

    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id).obj
        return Response(paginate(request, selectors.thread_messages(thread), key="messages",
                                 serialize=_many(message_out), default=50, maximum=200))

    def post(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        data = self.parse(MessageCreateIn, request)
        message = services.message_create(thread=thread, author=request.user, **data)
        return Response({"message": message_out(message)}, status=status.HTTP_201_CREATED)


class ThreadMessageSearchView(ApiView):
    scope = "threads"

    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id).obj
        q = (request.query_params.get("q") or "").strip()
        if not q:
            raise BadRequest("q is required.")
        qs = selectors.thread_messages(thread).filter(content__icontains=q)
        return Response(paginate(request, qs, key="messages", serialize=_many(message_out)))


class ThreadHistoryView(ApiView):
    scope = "threads"

    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id).obj
        runs = selectors.runs_of_thread(thread)
        root = request.query_params.get("root_run_id")
        if root:
            runs = runs.filter(root_run_id=root) | runs.filter(pk=root)
        body: dict[str, Any] = {"thread": thread_out(thread), "runs": [run_out(r) for r in runs[:200]]}
        if request.query_params.get("include_messages") in ("1", "true"):
            body["messages"] = [message_out(m) for m in selectors.thread_messages(thread)[:1000]]
        return Response(body)


def render_markdown(thread: Thread, messages: list[Message]) -> str:
    lines = [f"# {thread.title or 'Thread ' + thread.id}", ""]
    for message in messages:
        lines.append(f"## {message.role} · {iso(message.created_at)}")
        lines.append("")
        lines.append(message.content or "")
        for call in message.tool_calls or []:
            lines.append(f"\n- tool call `{call.get('name')}` `{json.dumps(call.get('arguments') or {})}`")
        lines.append("")
    return "\n".join(lines)


class _IgnoreFormatParam(DefaultContentNegotiation):
    """`?format=` names the export format here, not a DRF renderer."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class ThreadExportView(ApiView):
    scope = "threads"
    content_negotiation_class = _IgnoreFormatParam

    def get(self, request: Request, thread_id: str) -> HttpResponse:
        access = selectors.thread_for_user(request.user, thread_id)
        thread = access.obj
        fmt = request.query_params.get("format", "markdown")
        internal = request.query_params.get("include_internal") in ("1", "true")
        if internal and not role_at_least(access.role, Role.ADMIN):
            raise NotFound("Internal content is only exported for admins.").with_status(403)
        messages = list(selectors.thread_messages(thread))
        if not internal:
            messages = [m for m in messages if m.role in (Message.Role.USER, Message.Role.ASSISTANT)]
        if fmt == "json":
            body = json.dumps({"thread": thread_out(thread), "messages": [message_out(m) for m in messages]}, indent=2)
            response = HttpResponse(body, content_type="application/json")
            ext = "json"
        elif fmt == "markdown":
            response = HttpResponse(render_markdown(thread, messages), content_type="text/markdown; charset=utf-8")
            ext = "md"
        else:
            raise BadRequest("format must be markdown or json (pdf is not supported).")
        response["Content-Disposition"] = f'attachment; filename="thread-{thread.id}.{ext}"'
        return response


# --- shares --------------------------------------------------------------------------------


class ThreadShareView(ApiView):
    scope = "threads"

    def post(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        data = self.parse(ShareIn, request)
        share, token = services.share_create(thread=thread, actor=request.user, **data)
        return Response({"share": share_out(share, token=token)}, status=status.HTTP_201_CREATED)


class ThreadSharesView(ApiView):
    scope = "threads"

    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id).obj
        shares = ThreadShare.objects.filter(thread=thread).order_by("-created_at")
        return Response({"shares": [share_out(s) for s in shares]})


class ThreadShareRevokeView(ApiView):
    scope = "threads"

    def post(self, request: Request, thread_id: str, share_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
        share = ThreadShare.objects.filter(thread=thread, pk=share_id).first()
        if share is None:
            raise NotFound("Share not found.")
        return Response({"share": share_out(services.share_revoke(share=share))})


def shared_thread_out(share: ThreadShare) -> dict[str, Any]:
    thread = share.thread
    messages = selectors.thread_messages(thread).filter(role__in=[Message.Role.USER, Message.Role.ASSISTANT])
    return {
        "thread": {"id": thread.id, "title": thread.title, "created_at": iso(thread.created_at)},
        "share": {"mode": share.mode, "expires_at": iso(share.expires_at)},
        "messages": [{"role": m.role, "content": m.content, "sequence": m.sequence, "created_at": iso(m.created_at)}
                     for m in messages[:1000]],
    }


class PublicShareView(PublicApiView):
    def get(self, request: Request, token: str) -> Response:
        share = selectors.share_by_token(token)
        services.share_access(share=share, password=None)
        return Response(shared_thread_out(share))


class PublicShareAccessView(PublicApiView):
    def post(self, request: Request, token: str) -> Response:
        share = selectors.share_by_token(token)
        services.share_access(share=share, password=self.parse(ShareAccessIn, request)["password"])
        return Response(shared_thread_out(share))


# --- runs ----------------------------------------------------------------------------------


class ThreadRunsView(ApiView):
    scope = "threads"
    required_scopes = {"POST": "agents:execute"}

    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_for_user(request.user, thread_id).obj
        qs = selectors.runs_of_thread(thread, active_only=request.query_params.get("active_only") in ("1", "true"))
        return Response(paginate(request, qs, key="runs", serialize=_many(run_out), default=50, maximum=200))

    def post(self, request: Request, thread_id: str) -> Response:
        run = start_run(request.user, thread_id, request.data)
        return Response({"run": run_out(run)}, status=status.HTTP_201_CREATED)


def start_run(user: Any, thread_id: str, body: Any, *, run_id: str | None = None, task_sent: bool = False) -> Any:
    """`POST …/runs` after authentication: the thread (editor or above), the body, the parent run,
    then the create. Also the run start served in front of Django (agents/api/run_start_asgi.py)."""
    thread = selectors.thread_for_user(user, thread_id, min_role=Role.EDITOR).obj
    data = validate(RunCreateIn, body)
    parent = selectors.run_for_user(user, data["parent_run_id"]).obj if data.get("parent_run_id") else None
    return services.run_create(thread=thread, actor=user, agent_type=data["agent_type"], input=data["input"],
                               parent_run=parent, model=data["model"], multitask_strategy=data["multitask_strategy"],
                               run_id=run_id, task_sent=task_sent)


class RunView(ApiView):
    scope = "threads"

    def get(self, request: Request, run_id: str) -> Response:
        access = selectors.run_for_user(request.user, run_id)
        return Response({"run": run_out(access.obj), "role": access.role})


class RunCancelView(ApiView):
    scope = "threads"
    required_scopes = {"POST": "agents:execute"}

    def post(self, request: Request, run_id: str) -> Response:
        run = selectors.run_for_user(request.user, run_id, min_role=Role.EDITOR).obj
        return Response({"run": run_out(services.run_cancel(run=run))})


def _after(request: Request, *names: str) -> int:
    for name in names:
        raw = request.query_params.get(name)
        if raw not in (None, ""):
            try:
                return max(0, int(raw))
            except ValueError:
                raise BadRequest(f"{name} must be an integer.") from None
    header = request.headers.get("Last-Event-ID")
    return int(header) if header and header.isdigit() else 0


class RunEventsView(ApiView):
    """Polling fallback: events after `last_event_id` (≤2000 per response) and the run status."""

    scope = "threads"
    params = ("last_event_id", "after")

    def get(self, request: Request, run_id: str) -> Response:
        run = selectors.run_for_user(request.user, run_id).obj
        items = selectors.events_after(run, _after(request, *self.params))
        return Response({"events": [events.event_out(e) for e in items], "run_status": run.status,
                         "last_event_id": run.last_event_id})


class RunReplayView(RunEventsView):
    params = ("after", "last_event_id")


class RunArtifactsView(ApiView):
    scope = "threads"

    def get(self, request: Request, run_id: str) -> Response:
        run = selectors.run_for_user(request.user, run_id).obj
        qs = Artifact.objects.filter(run=run).order_by("created_at")
        return Response(paginate(request, qs, key="artifacts", serialize=_many(artifact_out)))

    def post(self, request: Request, run_id: str) -> Response:
        run = selectors.run_for_user(request.user, run_id, min_role=Role.EDITOR).obj
        artifact = services.artifact_create(run=run, **self.parse(ArtifactIn, request))
        return Response({"artifact": artifact_out(artifact)}, status=status.HTTP_201_CREATED)


class ArtifactView(ApiView):
    scope = "threads"

    def get(self, request: Request, artifact_id: str) -> Response:
        return Response({"artifact": artifact_out(selectors.artifact_for_user(request.user, artifact_id).obj)})


# --- memories ------------------------------------------------------------------------------


class SpaceMemoriesView(ApiView):
    scope = "memories"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        qs = selectors.memories_in_space(space, q=request.query_params.get("q"),
                                         type=request.query_params.get("type"))
        return Response(paginate(request, qs, key="memories", serialize=_many(memory_out)))

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.EDITOR).space
        memory = services.memory_create(space=space, author=request.user, data=dict(self.parse(MemoryIn, request)))
        return Response({"memory": memory_out(memory)}, status=status.HTTP_201_CREATED)


class SpaceMemorySearchView(ApiView):
    scope = "memories"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        q = (request.query_params.get("q") or "").strip()
        if not q:
            raise BadRequest("q is required.")
        return Response(paginate(request, selectors.memories_in_space(space, q=q), key="memories",
                                 serialize=_many(memory_out)))


class MemoryView(ApiView):
    scope = "memories"

    def get(self, request: Request, memory_id: str) -> Response:
        return Response({"memory": memory_out(selectors.memory_for_user(request.user, memory_id).obj)})

    def patch(self, request: Request, memory_id: str) -> Response:
        memory = selectors.memory_for_user(request.user, memory_id, min_role=Role.EDITOR).obj
        data = dict(self.parse(MemoryUpdateIn, request))
        return Response({"memory": memory_out(services.memory_update(memory=memory, data=data))})

    def delete(self, request: Request, memory_id: str) -> Response:
        selectors.memory_for_user(request.user, memory_id, min_role=Role.EDITOR).obj.delete()
        return Response({"success": True})


# --- skills --------------------------------------------------------------------------------


def _official_out(skill: dict[str, Any]) -> dict[str, Any]:
    return {**skill, "source": "official", "enabled": True}


class SpaceSkillsView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        return Response({"skills": [skill_out(s) for s in selectors.skills_in_space(space)]})

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.EDITOR).space
        skill = services.skill_create(space=space, data=dict(self.parse(SkillIn, request)))
        return Response({"skill": skill_out(skill)}, status=status.HTTP_201_CREATED)


class OfficialSkillsView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str, skill_id: str | None = None) -> Response:
        resolve_space(request.user, space_id)
        if skill_id is None:
            return Response({"skills": [_official_out(s) for s in OFFICIAL_SKILLS]})
        skill = official_skill(skill_id)
        if skill is None:
            raise NotFound("Official skill not found.")
        return Response({"skill": _official_out(skill)})


class SkillsContextView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        return Response({"skills": selectors.skills_context(space)})


class SkillDetailView(ApiView):
    scope = "threads"
    by_id = False

    def _skill(self, request: Request, space_id: str, ref: str, min_role: str = Role.VIEWER) -> Any:
        space = resolve_space(request.user, space_id, min_role=min_role).space
        return selectors.skill_in_space(space, ref, by_id=self.by_id)

    def get(self, request: Request, space_id: str, ref: str) -> Response:
        return Response({"skill": skill_out(self._skill(request, space_id, ref))})

    def put(self, request: Request, space_id: str, ref: str) -> Response:
        skill = self._skill(request, space_id, ref, Role.EDITOR)
        return Response({"skill": skill_out(services.skill_update(skill=skill, data=dict(self.parse(SkillIn, request))))})

    def patch(self, request: Request, space_id: str, ref: str) -> Response:
        skill = self._skill(request, space_id, ref, Role.EDITOR)
        data = dict(self.parse(SkillPatchIn, request))
        return Response({"skill": skill_out(services.skill_update(skill=skill, data=data))})

    def delete(self, request: Request, space_id: str, ref: str) -> Response:
        self._skill(request, space_id, ref, Role.ADMIN).delete()
        return Response({"success": True})


class SkillByIdView(SkillDetailView):
    by_id = True


# --- agent tasks ---------------------------------------------------------------------------


class SpaceAgentTasksView(ApiView):
    scope = "threads"

    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        qs = AgentTask.objects.filter(space=space).order_by("-created_at")
        if request.query_params.get("status"):
            qs = qs.filter(status=request.query_params["status"])
        return Response(paginate(request, qs, key="tasks", serialize=_many(agent_task_out)))

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.EDITOR).space
        task = services.agent_task_create(space=space, actor=request.user, data=dict(self.parse(AgentTaskIn, request)))
        return Response({"task": agent_task_out(task)}, status=status.HTTP_201_CREATED)


class AgentTaskView(ApiView):
    scope = "threads"

    def get(self, request: Request, task_id: str) -> Response:
        return Response({"task": agent_task_out(selectors.agent_task_for_user(request.user, task_id).obj)})

    def patch(self, request: Request, task_id: str) -> Response:
        task = selectors.agent_task_for_user(request.user, task_id, min_role=Role.EDITOR).obj
        data = dict(self.parse(AgentTaskPatchIn, request))
        return Response({"task": agent_task_out(services.agent_task_update(task=task, data=data))})

    def delete(self, request: Request, task_id: str) -> Response:
        selectors.agent_task_for_user(request.user, task_id, min_role=Role.EDITOR).obj.delete()
        return Response({"success": True})


class AgentTaskPlanView(ApiView):
    """Start a run that plans the task (on its thread, created when missing)."""

    scope = "threads"
    required_scopes = {"POST": "agents:execute"}

    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.agent_task_for_user(request.user, task_id, min_role=Role.EDITOR).obj
        if task.thread is None:
            task.thread = services.thread_create(space=task.space, actor=request.user, title=task.title)
        prompt = f"Plan this task: {task.title}\n\n{task.description}".strip()
        run = services.run_create(thread=task.thread, actor=request.user, agent_type=task.agent_type,
                                  input={"message": prompt}, model=task.model)
        task.last_run = run
        task.save(update_fields=["thread", "last_run", "updated_at"])
        return Response({"task": agent_task_out(task), "run": run_out(run)}, status=status.HTTP_201_CREATED)

