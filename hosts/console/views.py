"""Console pages: runtime sessions and browser sessions (live status, latest screenshot)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from platform_app import browser_services, session_services
from platform_app.models import BrowserSession, RuntimeSession
from takos.api.errors import NotFound
from takos.console.helpers import attempt


def _lists(request: HttpRequest) -> dict:
    runtime = (RuntimeSession.objects.filter(space__memberships__user=request.user)
               .select_related("space", "repo").order_by("-created_at")[:50])
    browsers = (BrowserSession.objects.filter(space__memberships__user=request.user)
                .select_related("space").order_by("-created_at")[:50])
    return {"runtime_sessions": runtime, "browser_sessions": browsers}


@login_required
def sessions_page(request: HttpRequest) -> HttpResponse:
    return render(request, "hosts/sessions.html", {"nav": "sessions", **_lists(request)})


@login_required
def sessions_rows(request: HttpRequest) -> HttpResponse:
    """The htmx-polled part of the page (live status)."""
    return render(request, "hosts/_session_rows.html", _lists(request))


def _runtime(request: HttpRequest, session_id: str) -> RuntimeSession:
    try:
        return session_services.session_for_user(request.user, session_id)
    except NotFound:
        raise Http404("Session not found") from None


def _browser(request: HttpRequest, session_id: str) -> BrowserSession:
    try:
        return browser_services.browser_session_for_user(request.user, session_id)
    except NotFound:
        raise Http404("Browser session not found") from None


@login_required
@require_POST
def session_action(request: HttpRequest, session_id: str, action: str) -> HttpResponse:
    session = _runtime(request, session_id)

    def run() -> RuntimeSession:
        from accounts.models import Role
        from accounts.selectors import resolve_space

        resolve_space(request.user, session.space_id, min_role=Role.EDITOR)
        if action == "stop":
            return session_services.session_stop(session=session, actor=request.user,
                                                 commit_message=request.POST.get("commit_message") or None)
        if action == "resume":
            return session_services.session_resume(session=session)
        if action == "discard":
            return session_services.session_discard(session=session)
        raise Http404("Unknown action")

    if attempt(request, run) is not None:
        messages.success(request, f"Session {session.id}: {session.status}.")
    return redirect("console-sessions")


@login_required
def browser_page(request: HttpRequest, session_id: str) -> HttpResponse:
    return render(request, "hosts/browser.html", {"nav": "sessions", "session": _browser(request, session_id)})


@login_required
@require_POST
def browser_refresh(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _browser(request, session_id)
    attempt(request, lambda: browser_services.browser_screenshot(session=session))
    return redirect("console-browser-session", session.id)


@login_required
@require_POST
def browser_close(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _browser(request, session_id)
    attempt(request, lambda: browser_services.browser_session_close(session=session))
    return redirect("console-sessions")


@login_required
def browser_screenshot_file(request: HttpRequest, session_id: str) -> FileResponse:
    session = _browser(request, session_id)
    if not session.last_screenshot or not default_storage.exists(session.last_screenshot):
        raise Http404("No screenshot yet")
    response = FileResponse(default_storage.open(session.last_screenshot, "rb"), content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response
