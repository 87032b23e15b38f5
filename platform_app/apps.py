from django.apps import AppConfig


class PlatformAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "platform_app"
    label = "platform_app"
    verbose_name = "Platform"

    def ready(self) -> None:
        from takos.hooks import member_added

        member_added.connect(_notify_member_added, dispatch_uid="platform_app.workspace_invite")


def _notify_member_added(sender, *, space, user, actor, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """The spec's `workspace.invite`: a person added to a space hears about it."""
    from platform_app.notifications.services import notification_create

    notification_create(
        recipient=user, type="workspace.invite", space=space,
        title=f"@{actor.username} added you to {space.name}",
        data={"space_id": space.id, "space_slug": space.slug, "by": actor.username},
    )
