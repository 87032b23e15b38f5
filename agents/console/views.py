"""Console pages for agents: they call the same selectors and services as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Membership, Role
from accounts.selectors import resolve_space
from agents import selectors, services
from agents.models import Artifact, Memory, Run, Thread
from agents.skills_catalog import OFFICIAL_SKILLS
from takos.api.errors import ApiError, NotFound
from takos.console.helpers import attempt


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "takos/error.html", {"status": 404, "message": "Not found."}, status=404)


def _spaces(request: HttpRequest) -> list[Membership]:
    return list(Membership.objects.filter(user=request.user).select_related("space").order_by("space__slug"))


@login_required
def thread_list(request: HttpRequest) -> HttpResponse:
    memberships = _spaces(request)
    if request.method == "POST":
        space = attempt(request, lambda: resolve_space(request.user, request.POST.get("space", ""),
                                                       min_role=Role.EDITOR).space)
        if space is not None:
            thread = services.thread_create(space=space, actor=request.user, title=request.POST.get("title", "")[:200])
            return redirect("console-thread", thread_id=thread.id)
    threads = (Thread.objects.for_user(request.user).filter(parent_run__isnull=True)
               .select_related("space").order_by("-updated_at")[:100])
    return render(request, "agents/threads.html", {"nav": "threads", "threads": threads, "memberships": memberships})


@login_required
def thread_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    try:
        access = selectors.thread_for_user(request.user, thread_id)
    except ApiError:
        return _not_found(request)
    thread = access.obj
    if request.method == "POST":
        text = request.POST.get("content", "").strip()

        def send() -> Run | None:
            thread_w = selectors.thread_for_user(request.user, thread_id, min_role=Role.EDITOR).obj
            return services.run_create(thread=thread_w, actor=request.user, input={"message": text},
                                       multitask_strategy=request.POST.get("multitask_strategy") or "enqueue")

        if text:
            attempt(request, send)
        return redirect("console-thread", thread_id=thread.id)
    runs = list(selectors.runs_of_thread(thread)[:20])
    live = next((r for r in runs if not r.is_terminal), runs[0] if runs else None)
    return render(request, "agents/thread.html", {
        "nav": "threads", "thread": thread, "role": access.role,
        "messages_list": selectors.thread_messages(thread).filter(role__in=["user", "assistant"]),
        "runs": runs, "live_run": live,
    })


@login_required
@require_POST
def run_cancel(request: HttpRequest, thread_id: str, run_id: str) -> HttpResponse:
    try:
        run = selectors.run_for_user(request.user, run_id, min_role=Role.EDITOR).obj
    except ApiError:
        return _not_found(request)
    attempt(request, lambda: services.run_cancel(run=run))
    return redirect("console-thread", thread_id=run.thread_id)


@login_required
def run_artifacts(request: HttpRequest, run_id: str) -> HttpResponse:
    try:
        run = selectors.run_for_user(request.user, run_id).obj
    except ApiError:
        return _not_found(request)
    artifacts = Artifact.objects.filter(run=run).order_by("created_at")
    return render(request, "agents/artifacts.html", {"nav": "threads", "run": run, "artifacts": artifacts})


def _space_from_query(request: HttpRequest):  # type: ignore[no-untyped-def]
    ref = request.GET.get("space") or "me"
    return resolve_space(request.user, ref).space


@login_required
def memories(request: HttpRequest) -> HttpResponse:
    try:
        space = _space_from_query(request)
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        attempt(request, lambda: services.memory_create(
            space=resolve_space(request.user, space.id, min_role=Role.EDITOR).space, author=request.user,
            data={"type": request.POST.get("type") or "semantic", "content": request.POST.get("content", "")}))
        return redirect(f"/memories?space={space.slug}")
    items = Memory.objects.filter(space=space).order_by("-created_at")[:200]
    return render(request, "agents/memories.html", {"nav": "threads", "space": space, "memories": items,
                                                    "memberships": _spaces(request)})


@login_required
def skills(request: HttpRequest) -> HttpResponse:
    try:
        space = _space_from_query(request)
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        attempt(request, lambda: services.skill_create(
            space=resolve_space(request.user, space.id, min_role=Role.EDITOR).space,
            data={"name": request.POST.get("name", "").strip(), "instructions": request.POST.get("instructions", ""),
                  "description": request.POST.get("description", "")}))
        return redirect(f"/skills?space={space.slug}")
    return render(request, "agents/skills.html", {"nav": "threads", "space": space, "official": OFFICIAL_SKILLS,
                                                  "custom": selectors.skills_in_space(space),
                                                  "memberships": _spaces(request)})


def shared_thread(request: HttpRequest, token: str) -> HttpResponse:
    from agents.api.views import shared_thread_out

    try:
        share = selectors.share_by_token(token)
        password = request.POST.get("password") if request.method == "POST" else None
        services.share_access(share=share, password=password)
    except NotFound:
        return _not_found(request)
    except ApiError:
        return render(request, "agents/shared.html", {"needs_password": True, "token": token,
                                                      "failed": request.method == "POST"})
    return render(request, "agents/shared.html", {"shared": shared_thread_out(share)})
