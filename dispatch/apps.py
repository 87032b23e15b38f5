from django.apps import AppConfig


class DispatchConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dispatch"
    label = "dispatch"
    verbose_name = "Tenant dispatch"

    def ready(self) -> None:
        from dispatch.table import on_routes_changed
        from takos.hooks import routes_changed

        routes_changed.connect(on_routes_changed, dispatch_uid="dispatch.routes_changed")
