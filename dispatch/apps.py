from django.apps import AppConfig


class DispatchConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dispatch"
    label = "dispatch"
    verbose_name = "Tenant dispatch"
