from django.apps import AppConfig


class AgentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "agents"
    label = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from django.urls import path

        from agents import internal
        from agents.api.streams import RunConsumer
        from hosts.internal import register_internal_urls
        from platform_app.notifications.api import NotificationsConsumer
        from takos.context_processors import NAV_EXTRA
        from takos.routing import websocket_urlpatterns

        register_internal_urls(internal.urlpatterns())
        websocket_urlpatterns.append(path("api/runs/<str:run_id>/ws", RunConsumer.as_asgi()))
        websocket_urlpatterns.append(path("api/notifications/ws", NotificationsConsumer.as_asgi()))
        for key, label, url in (("threads", "Threads", "/threads"), ("notifications", "Notifications", "/notifications")):
            if not any(item.get("key") == key for item in NAV_EXTRA):
                NAV_EXTRA.append({"key": key, "label": label, "url": url})
