from django.apps import AppConfig


class AuthAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "auth_app"
    label = "auth_app"
    verbose_name = "Authentication"

    def ready(self) -> None:
        from auth_app import signals

        signals.connect()
