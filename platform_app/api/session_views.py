"""Runtime sessions (`/api/spaces/:spaceId/sessions`, `/api/sessions/:id/...`) and browser
sessions (`/api/spaces/:spaceId/browser-sessions`, `/api/browser-sessions/:id/...`)."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from accounts.selectors import resolve_space
from platform_app import browser_services, session_services
from platform_app.api.session_serializers import (
    BrowserActionIn,
    BrowserCreateIn,
    BrowserExtractIn,
    BrowserGotoIn,
    SessionCreateIn,
    SessionExecIn,
    SessionStopIn,
    browser_out,
    session_out,
)
from takos.api.pagination import paginate
from takos.api.views import ApiView


class _SessionView(ApiView):
    scope = "repos"

    def session(self, request: Request, session_id: str, *, min_role: str = Role.VIEWER):  # type: ignore[no-untyped-def]
        session = session_services.session_for_user(request.user, session_id)
        if min_role != Role.VIEWER:
            resolve_space(request.user, session.space_id, min_role=min_role)
        return session


class SpaceSessionsView(_SessionView):
    def get(self, request: Request, space_id: str) -> Response:
        qs = session_services.sessions_for_space(request.user, space_id, status=request.query_params.get("status"))
        return Response(paginate(request, qs, key="sessions", serialize=lambda items: [session_out(s) for s in items]))

    def post(self, request: Request, space_id: str) -> Response:
        data = self.parse(SessionCreateIn, request)
        session = session_services.session_create(user=request.user, space_ref=space_id, repo_id=data["repo_id"],
                                                  branch=data.get("branch") or None)
        return Response({"session": session_out(session)}, status=status.HTTP_201_CREATED)


class SessionDetailView(_SessionView):
    def get(self, request: Request, session_id: str) -> Response:
        return Response({"session": session_out(self.session(request, session_id))})


class SessionHealthView(_SessionView):
    def get(self, request: Request, session_id: str) -> Response:
        return Response(session_services.session_health(session=self.session(request, session_id)))


class SessionHeartbeatView(_SessionView):
    def post(self, request: Request, session_id: str) -> Response:
        session = session_services.session_heartbeat(session=self.session(request, session_id, min_role=Role.EDITOR),
                                                      from_user=True)
        return Response({"success": True, "status": session.status, "last_heartbeat": session.last_heartbeat})


class SessionStopView(_SessionView):
    def post(self, request: Request, session_id: str) -> Response:
        data = self.parse(SessionStopIn, request)
        session = self.session(request, session_id, min_role=Role.EDITOR)
        session = session_services.session_stop(session=session, actor=request.user,
                                                 commit_message=data.get("commit_message") or None)
        return Response({"success": True, "session": session_out(session)})


class SessionResumeView(_SessionView):
    def post(self, request: Request, session_id: str) -> Response:
        session = session_services.session_resume(session=self.session(request, session_id, min_role=Role.EDITOR))
        return Response({"success": True, "session": session_out(session)})


class SessionDiscardView(_SessionView):
    def post(self, request: Request, session_id: str) -> Response:
        session = session_services.session_discard(session=self.session(request, session_id, min_role=Role.EDITOR))
        return Response({"success": True, "session": session_out(session)})


class SessionExecView(_SessionView):
    def post(self, request: Request, session_id: str) -> Response:
        data = self.parse(SessionExecIn, request)
        session = self.session(request, session_id, min_role=Role.EDITOR)
        result = session_services.session_exec(session=session, command=data["command"],
                                               timeout=data.get("timeout") or 60)
        return Response({"exit_code": result.exit_code, "output": result.output})


# --- browser sessions -------------------------------------------------------------------------
class _BrowserView(ApiView):
    scope = "files"

    def browser(self, request: Request, session_id: str):  # type: ignore[no-untyped-def]
        return browser_services.browser_session_for_user(request.user, session_id)


class SpaceBrowserSessionsView(_BrowserView):
    def get(self, request: Request, space_id: str) -> Response:
        qs = browser_services.browser_sessions_for_space(request.user, space_id)
        return Response(paginate(request, qs, key="sessions", serialize=lambda items: [browser_out(s) for s in items]))

    def post(self, request: Request, space_id: str) -> Response:
        data = self.parse(BrowserCreateIn, request)
        session = browser_services.browser_session_create(user=request.user, space_ref=space_id,
                                                          url=data.get("url") or None, viewport=data.get("viewport"))
        return Response({"session": browser_out(session)}, status=status.HTTP_201_CREATED)


class BrowserSessionDetailView(_BrowserView):
    def get(self, request: Request, session_id: str) -> Response:
        return Response({"session": browser_out(self.browser(request, session_id))})

    def delete(self, request: Request, session_id: str) -> Response:
        session = browser_services.browser_session_close(session=self.browser(request, session_id))
        return Response({"success": True, "session": browser_out(session)})


class BrowserGotoView(_BrowserView):
    def post(self, request: Request, session_id: str) -> Response:
        data = self.parse(BrowserGotoIn, request)
        info = browser_services.browser_goto(session=self.browser(request, session_id), url=data["url"])
        return Response({"success": True, **info})


class BrowserActionView(_BrowserView):
    def post(self, request: Request, session_id: str) -> Response:
        data = self.parse(BrowserActionIn, request)
        return Response(browser_services.browser_action(session=self.browser(request, session_id), action=data))


class BrowserExtractView(_BrowserView):
    def post(self, request: Request, session_id: str) -> Response:
        data = self.parse(BrowserExtractIn, request)
        return Response(browser_services.browser_extract(session=self.browser(request, session_id),
                                                         selector=data.get("selector") or None))


class BrowserHtmlView(_BrowserView):
    def get(self, request: Request, session_id: str) -> Response:
        return Response(browser_services.browser_html(session=self.browser(request, session_id)))


class BrowserScreenshotView(_BrowserView):
    def get(self, request: Request, session_id: str) -> HttpResponse:
        png = browser_services.browser_screenshot(session=self.browser(request, session_id))
        return HttpResponse(png, content_type="image/png")


class BrowserPdfView(_BrowserView):
    def post(self, request: Request, session_id: str) -> HttpResponse:
        pdf = browser_services.browser_pdf(session=self.browser(request, session_id))
        return HttpResponse(pdf, content_type="application/pdf")
