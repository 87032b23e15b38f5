"""Admin for every agents model; runs have an action to cancel them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from agents import services
from agents.models import (
    AgentTask,
    Artifact,
    Memory,
    Message,
    Run,
    RunEvent,
    Skill,
    Thread,
    ThreadShare,
    ToolOperation,
)
from takos.api.errors import ApiError


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "space", "status", "context_window", "created_by", "updated_at")
    list_filter = ("status",)
    search_fields = ("id", "title", "space__slug")
    raw_id_fields = ("space", "created_by", "parent_run")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "sequence", "role", "run", "created_at")
    list_filter = ("role",)
    search_fields = ("id", "thread__id", "content")
    raw_id_fields = ("thread", "run", "author")


@admin.action(description="Cancel the selected runs")
def cancel_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Run]) -> None:
    done = 0
    for run in queryset:
        try:
            services.run_cancel(run=run, reason="Cancelled by an operator.")
            done += 1
        except ApiError:
            pass
    modeladmin.message_user(request, f"Cancelled {done} run(s).", messages.SUCCESS)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "space", "status", "agent_type", "multitask_strategy", "lease_version",
                    "recovery_count", "service_heartbeat", "created_at", "completed_at")
    list_filter = ("status", "agent_type", "multitask_strategy")
    search_fields = ("id", "thread__id", "space__slug", "error")
    raw_id_fields = ("thread", "space", "requester", "parent_run", "root_run", "root_thread")
    actions = [cancel_runs]


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "seq", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("run__id",)
    raw_id_fields = ("run",)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "type", "run", "space", "created_at")
    list_filter = ("type",)
    search_fields = ("id", "title", "run__id")
    raw_id_fields = ("run", "space")


@admin.register(ToolOperation)
class ToolOperationAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "operation_key", "tool_name", "status", "created_at", "completed_at")
    list_filter = ("status", "tool_name")
    search_fields = ("run__id", "operation_key")
    raw_id_fields = ("run",)


@admin.register(ThreadShare)
class ThreadShareAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "mode", "expires_at", "revoked_at", "last_accessed_at", "created_at")
    list_filter = ("mode",)
    search_fields = ("id", "thread__id")
    raw_id_fields = ("thread", "space", "created_by")
    exclude = ("password_hash",)


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ("id", "space", "type", "category", "importance", "created_at")
    list_filter = ("type",)
    search_fields = ("id", "content", "space__slug")
    raw_id_fields = ("space", "author", "thread")


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "space", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "space__slug")
    raw_id_fields = ("space",)


@admin.register(AgentTask)
class AgentTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "space", "status", "priority", "due_at", "updated_at")
    list_filter = ("status", "priority")
    search_fields = ("id", "title", "space__slug")
    raw_id_fields = ("space", "created_by", "thread", "last_run")


import platform_app.notifications.admin  # noqa: E402,F401  (notifications + dead letters admin)
