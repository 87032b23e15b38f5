from django.urls import path

from hosts.console import views

urlpatterns = [
    path("sessions", views.sessions_page, name="console-sessions"),
    path("sessions/rows", views.sessions_rows, name="console-sessions-rows"),
    path("sessions/<str:session_id>/<str:action>", views.session_action, name="console-session-action"),
    path("browser-sessions/<str:session_id>", views.browser_page, name="console-browser-session"),
    path("browser-sessions/<str:session_id>/refresh", views.browser_refresh, name="console-browser-refresh"),
    path("browser-sessions/<str:session_id>/close", views.browser_close, name="console-browser-close"),
    path("browser-sessions/<str:session_id>/screenshot.png", views.browser_screenshot_file,
         name="console-browser-screenshot"),
]
