from django.apps import AppConfig


class HostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "hosts"
    label = "hosts"
    verbose_name = "Container hosts"

    def ready(self) -> None:
        from takos.context_processors import NAV_EXTRA

        if not any(item.get("key") == "sessions" for item in NAV_EXTRA):
            NAV_EXTRA.append({"key": "sessions", "label": "Sessions", "url": "/sessions"})
