"""Writes for notifications. Rows first; the stream wake-up goes out after commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from platform_app.models import Notification, NotificationPreference, NotificationSettings

MAX_DATA_BYTES = 10 * 1024


def group(user_id: str) -> str:
    return f"notifications.{user_id}"


def in_app_enabled(user_id: str, type: str) -> bool:
    pref = NotificationPreference.objects.filter(user_id=user_id, type=type, channel="in_app").first()
    return pref is None or pref.enabled


def is_muted(settings_row: NotificationSettings) -> bool:
    return settings_row.muted_until is not None and settings_row.muted_until > timezone.now()


def notification_create(*, recipient: Any, type: str, title: str, body: str = "", space: Any = None,
                        data: dict[str, Any] | None = None) -> Notification | None:
    """Store an in-app notification unless the user turned this type off; wake streams unless muted."""
    if recipient is None or not in_app_enabled(recipient.pk, type):
        return None
    import json

    payload = data or {}
    if len(json.dumps(payload)) > MAX_DATA_BYTES:
        payload = {"truncated": True}
    with transaction.atomic():
        NotificationSettings.objects.get_or_create(user_id=recipient.pk)
        # The settings row is the per-user counter: the UPDATE locks it, so seq is gapless.
        NotificationSettings.objects.filter(user_id=recipient.pk).update(last_seq=F("last_seq") + 1)
        row = NotificationSettings.objects.get(user_id=recipient.pk)
        notification = Notification.objects.create(
            recipient_id=recipient.pk, space=space, seq=row.last_seq, type=type, title=title[:300], body=body,
            data=payload,
        )
        if not is_muted(row):
            from agents.events import wake

            transaction.on_commit(lambda: wake(group(recipient.pk), notification.seq))
    return notification


def notification_mark_read(*, user: Any, notification_id: str) -> Notification:
    from takos.api.errors import NotFound

    notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
    if notification is None:
        raise NotFound("Notification not found.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def preferences_update(*, user: Any, updates: list[dict[str, Any]]) -> None:
    for item in updates:
        NotificationPreference.objects.update_or_create(
            user=user, type=item["type"], channel=item["channel"], defaults={"enabled": item["enabled"]})


def settings_update(*, user: Any, muted_until: Any) -> NotificationSettings:
    row, _ = NotificationSettings.objects.get_or_create(user=user)
    row.muted_until = muted_until
    row.save(update_fields=["muted_until", "updated_at"])
    return row
