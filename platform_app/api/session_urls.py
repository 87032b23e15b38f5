"""URL patterns for runtime and browser sessions, mounted under /api/ by takos/urls.py."""

from django.urls import path

from platform_app.api import session_views as v

urlpatterns = [
    path("spaces/<str:space_id>/sessions", v.SpaceSessionsView.as_view(), name="api-space-sessions"),
    path("sessions/<str:session_id>", v.SessionDetailView.as_view(), name="api-session"),
    path("sessions/<str:session_id>/health", v.SessionHealthView.as_view(), name="api-session-health"),
    path("sessions/<str:session_id>/heartbeat", v.SessionHeartbeatView.as_view(), name="api-session-heartbeat"),
    path("sessions/<str:session_id>/stop", v.SessionStopView.as_view(), name="api-session-stop"),
    path("sessions/<str:session_id>/resume", v.SessionResumeView.as_view(), name="api-session-resume"),
    path("sessions/<str:session_id>/discard", v.SessionDiscardView.as_view(), name="api-session-discard"),
    path("sessions/<str:session_id>/exec", v.SessionExecView.as_view(), name="api-session-exec"),
    path("spaces/<str:space_id>/browser-sessions", v.SpaceBrowserSessionsView.as_view(),
         name="api-space-browser-sessions"),
    path("browser-sessions/<str:session_id>", v.BrowserSessionDetailView.as_view(), name="api-browser-session"),
    path("browser-sessions/<str:session_id>/goto", v.BrowserGotoView.as_view(), name="api-browser-goto"),
    path("browser-sessions/<str:session_id>/action", v.BrowserActionView.as_view(), name="api-browser-action"),
    path("browser-sessions/<str:session_id>/extract", v.BrowserExtractView.as_view(), name="api-browser-extract"),
    path("browser-sessions/<str:session_id>/html", v.BrowserHtmlView.as_view(), name="api-browser-html"),
    path("browser-sessions/<str:session_id>/screenshot", v.BrowserScreenshotView.as_view(),
         name="api-browser-screenshot"),
    path("browser-sessions/<str:session_id>/pdf", v.BrowserPdfView.as_view(), name="api-browser-pdf"),
]
