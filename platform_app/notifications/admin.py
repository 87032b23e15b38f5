"""Admin for notifications and dead letters (imported by agents.admin so it is autodiscovered
without touching platform_app/admin.py, which the hosts part owns)."""

from __future__ import annotations

from django.contrib import admin

from platform_app.models import DeadLetter, Notification, NotificationPreference, NotificationSettings


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient", "type", "title", "seq", "read_at", "created_at")
    list_filter = ("type",)
    search_fields = ("id", "title", "recipient__username")
    raw_id_fields = ("recipient", "space")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "type", "channel", "enabled", "updated_at")
    list_filter = ("channel", "enabled")
    search_fields = ("user__username", "type")
    raw_id_fields = ("user",)


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "muted_until", "last_seq", "updated_at")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("id", "queue", "retry_count", "created_at")
    list_filter = ("queue",)
    search_fields = ("error",)
