from django.apps import AppConfig


class ReposConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "repos"
    label = "repos"
    verbose_name = "Repositories"

    def ready(self) -> None:
        from repos.services import on_space_created
        from takos.hooks import space_created

        # A new team space gets its default repository `main` (inside the creating transaction).
        space_created.connect(on_space_created, dispatch_uid="repos.default_repository")

        from takos.context_processors import NAV_EXTRA

        if not any(item.get("key") == "repos" for item in NAV_EXTRA):
            NAV_EXTRA.append({"key": "repos", "label": "Repositories", "url": "/repos"})

        from takos.api.middleware import register_body_limit

        # Release assets (spec: up to 100 MB) are larger than the 1 MB API body limit.
        register_body_limit(r"^/api/repos/[a-z0-9]{12}/releases/[^/]+/assets$", "TAKOS_RELEASE_ASSET_MAX_BYTES")
