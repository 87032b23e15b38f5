from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from workers.models import (
    App,
    CustomDomain,
    Deployment,
    DeploymentEvent,
    ManagedToken,
    Rollout,
    RuntimeSettings,
)


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "space", "service", "app_type", "repo", "created_at")
    list_filter = ("app_type",)
    search_fields = ("name", "space__slug", "service__slug")
    raw_id_fields = ("space", "service", "repo")


class EventInline(admin.TabularInline):
    model = DeploymentEvent
    extra = 0
    fields = ("created_at", "event_type", "step_name", "message", "actor")
    readonly_fields = fields
    can_delete = False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("id", "service", "version", "status", "strategy", "routing_status", "routing_weight",
                    "artifact_kind", "commit_sha", "endpoint", "created_at")
    list_filter = ("status", "strategy", "routing_status", "artifact_kind", "container_driver")
    search_fields = ("id", "service__slug", "commit_sha", "artifact_ref", "deploy_message")
    raw_id_fields = ("service", "space", "repo", "deployed_by", "rolled_back_by")
    readonly_fields = ("env_snapshot_encrypted", "lease_token", "lease_expires_at", "created_at", "updated_at")
    inlines = [EventInline]
    actions = ["roll_back_to_this"]

    @admin.action(description="Roll back: serve the selected deployment at 100%%")
    def roll_back_to_this(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        from takos.api.errors import ApiError
        from workers.services import rollback

        for deployment in queryset.select_related("service"):
            try:
                rollback(service=deployment.service, actor=request.user, target=deployment)
                self.message_user(request, f"{deployment.service.slug}: v{deployment.version} is serving.")
            except ApiError as exc:
                self.message_user(request, f"{deployment.service.slug} v{deployment.version}: {exc.detail}",
                                  level=messages.ERROR)


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(admin.ModelAdmin):
    list_display = ("id", "deployment", "event_type", "step_name", "message", "created_at")
    list_filter = ("event_type",)
    search_fields = ("deployment__id", "message")
    raw_id_fields = ("deployment", "actor")


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ("deployment", "service", "state", "step_index", "steps", "next_step_at", "updated_at")
    list_filter = ("state",)
    search_fields = ("deployment__id", "service__slug", "reason")
    raw_id_fields = ("deployment", "service", "baseline")


@admin.register(CustomDomain)
class CustomDomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "service", "status", "verification_method", "verified_at", "last_checked_at",
                    "last_error")
    list_filter = ("status", "verification_method")
    search_fields = ("domain", "service__slug")
    raw_id_fields = ("service",)


@admin.register(RuntimeSettings)
class RuntimeSettingsAdmin(admin.ModelAdmin):
    list_display = ("service", "compatibility_date", "cpu_ms", "memory_mb", "subrequests", "updated_at")
    search_fields = ("service__slug",)
    raw_id_fields = ("service",)


@admin.register(ManagedToken)
class ManagedTokenAdmin(admin.ModelAdmin):
    list_display = ("service", "env_name", "subject", "scopes", "token_prefix", "created_at")
    search_fields = ("service__slug", "env_name", "subject__username")
    raw_id_fields = ("service", "subject", "pat")
    exclude = ("token_encrypted",)
