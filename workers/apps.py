from django.apps import AppConfig


class WorkersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workers"
    label = "workers"
    verbose_name = "Apps and deployments"

    def ready(self) -> None:
        from hosts.recovery import register_owner_check
        from takos.context_processors import NAV_EXTRA

        def deployment_wanted(deployment_id: str, handle) -> bool:  # type: ignore[no-untyped-def]
            from workers.models import Deployment

            return Deployment.objects.filter(pk=deployment_id, container_id=handle.id).exists()

        register_owner_check("deployment", deployment_wanted)
        if not any(item.get("key") == "services" for item in NAV_EXTRA):
            NAV_EXTRA.append({"key": "services", "label": "Apps", "url": "/services"})
