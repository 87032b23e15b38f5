"""Notification routes: /api/notifications* and the console page."""

from django.urls import path

from platform_app.notifications import api, console

urlpatterns = [
    path("api/notifications", api.NotificationsView.as_view(), name="api-notifications"),
    path("api/notifications/unread-count", api.UnreadCountView.as_view(), name="api-notifications-unread"),
    path("api/notifications/read-all", api.ReadAllView.as_view(), name="api-notifications-read-all"),
    path("api/notifications/preferences", api.PreferencesView.as_view(), name="api-notifications-preferences"),
    path("api/notifications/settings", api.SettingsView.as_view(), name="api-notifications-settings"),
    path("api/notifications/sse", api.notifications_sse, name="api-notifications-sse"),
    path("api/notifications/<str:notification_id>/read", api.ReadView.as_view(), name="api-notification-read"),
    path("notifications", console.notifications_page, name="console-notifications"),
]
