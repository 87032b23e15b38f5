"""Admin: containers by role with their state (and a stop action), proxy tokens, events,
and the runtime / browser sessions of platform_app (registered here, by their owner app's
hosts helper, to keep platform_app/admin.py free for the other platform parts)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from hosts.drivers import DriverError, DriverUnavailable
from hosts.models import ContainerRecord, HostEvent, ProxyToken
from platform_app.models import BrowserSession, RuntimeSession


@admin.action(description="Stop and remove the selected containers")
def stop_containers(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    from hosts.services import container_stop, handle_for_record

    stopped = 0
    for record in queryset.exclude(state=ContainerRecord.State.STOPPED):
        try:
            container_stop(handle=handle_for_record(record), reason=f"stopped by {request.user} in admin")
            stopped += 1
        except (DriverError, DriverUnavailable) as exc:
            modeladmin.message_user(request, f"{record.id[:12]}: {exc}", messages.ERROR)
    modeladmin.message_user(request, f"Stopped {stopped} container(s).", messages.SUCCESS)


@admin.action(description="Refresh state from the engine")
def refresh_containers(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    from hosts.drivers import get_driver
    from hosts.services import handle_for_record, record_status

    for record in queryset.exclude(state=ContainerRecord.State.STOPPED):
        try:
            handle = handle_for_record(record)
            record_status(handle=handle, status=get_driver(record.driver).status(handle))
        except (DriverError, DriverUnavailable) as exc:
            modeladmin.message_user(request, f"{record.id[:12]}: {exc}", messages.ERROR)


@admin.register(ContainerRecord)
class ContainerRecordAdmin(admin.ModelAdmin):
    list_display = ["short_id", "role", "state", "owner", "driver", "image", "exit_code", "reason", "created_at",
                    "stopped_at"]
    list_filter = ["role", "state", "driver"]
    search_fields = ["id", "owner", "image"]
    readonly_fields = [f.name for f in ContainerRecord._meta.fields]
    actions = [stop_containers, refresh_containers]
    ordering = ["-created_at"]

    @admin.display(description="id")
    def short_id(self, obj: ContainerRecord) -> str:
        return obj.id[:16]


@admin.action(description="Revoke selected proxy tokens")
def revoke_proxy_tokens(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    modeladmin.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(ProxyToken)
class ProxyTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "capabilities", "repo_id", "space", "user", "expires_at", "revoked_at",
                    "last_used_at"]
    list_filter = ["expires_at", "revoked_at"]
    search_fields = ["owner", "repo_id", "user__username"]
    readonly_fields = ["id", "token_hash", "created_at", "last_used_at"]
    list_select_related = ["space", "user"]
    actions = [revoke_proxy_tokens]


@admin.register(HostEvent)
class HostEventAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "kind", "type", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["owner", "type"]


@admin.register(RuntimeSession)
class RuntimeSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "space", "user", "repo", "branch", "status", "driver", "last_heartbeat", "created_at"]
    list_filter = ["status", "driver", "created_at"]
    search_fields = ["id", "space__slug", "user__username", "repo__name", "branch", "container_id"]
    list_select_related = ["space", "user", "repo"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(BrowserSession)
class BrowserSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "space", "user", "status", "url", "driver", "last_used_at", "created_at"]
    list_filter = ["status", "driver", "created_at"]
    search_fields = ["id", "space__slug", "user__username", "url", "container_id"]
    list_select_related = ["space", "user"]
    readonly_fields = ["id", "created_at", "updated_at"]
