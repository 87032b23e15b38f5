"""Django admin for workflows: every model, with list columns, search and filters."""

from __future__ import annotations

from django.contrib import admin

from workflows.models import (
    CommitStatus,
    Workflow,
    WorkflowArtifact,
    WorkflowJob,
    WorkflowLogChunk,
    WorkflowRun,
    WorkflowRunAttempt,
    WorkflowRunEvent,
    WorkflowSecret,
    WorkflowStep,
)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "repo", "is_valid", "ref", "parsed_at")
    list_filter = ("is_valid",)
    search_fields = ("path", "name", "repo__name", "repo__id")
    raw_id_fields = ("repo",)


class WorkflowJobInline(admin.TabularInline):
    model = WorkflowJob
    fields = ("run_attempt", "job_key", "name", "status", "conclusion", "runner_name", "started_at", "completed_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


class WorkflowRunAttemptInline(admin.TabularInline):
    model = WorkflowRunAttempt
    fields = ("run_attempt", "status", "conclusion", "actor", "started_at", "completed_at")
    readonly_fields = fields
    extra = 0


@admin.register(WorkflowRunAttempt)
class WorkflowRunAttemptAdmin(admin.ModelAdmin):
    list_display = ("run", "run_attempt", "status", "conclusion", "completed_at")
    list_filter = ("status", "conclusion")
    search_fields = ("run__id",)
    raw_id_fields = ("run", "actor")


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow_path", "run_number", "run_attempt", "repo", "event", "status", "conclusion",
                    "created_at")
    list_filter = ("status", "conclusion", "event")
    search_fields = ("id", "workflow_path", "name", "sha", "repo__name")
    raw_id_fields = ("repo", "workflow", "actor")
    inlines = [WorkflowRunAttemptInline, WorkflowJobInline]
    date_hierarchy = "created_at"


class WorkflowStepInline(admin.TabularInline):
    model = WorkflowStep
    fields = ("number", "name", "status", "conclusion", "outcome", "exit_code")
    readonly_fields = fields
    extra = 0


@admin.register(WorkflowJob)
class WorkflowJobAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "run", "run_attempt", "status", "conclusion", "runner_name", "attempts",
                    "heartbeat_at")
    list_filter = ("status", "conclusion", "runner_name")
    search_fields = ("id", "name", "job_key", "run__id")
    raw_id_fields = ("run", "reused_from")
    inlines = [WorkflowStepInline]


@admin.register(WorkflowStep)
class WorkflowStepAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "number", "name", "status", "conclusion", "exit_code")
    list_filter = ("status", "conclusion")
    search_fields = ("id", "name", "job__id")
    raw_id_fields = ("job",)


@admin.register(WorkflowSecret)
class WorkflowSecretAdmin(admin.ModelAdmin):
    list_display = ("name", "repo", "updated_at")
    search_fields = ("name", "repo__name")
    raw_id_fields = ("repo",)
    # The ciphertext is not useful to look at and must not be edited by hand.
    exclude = ("encrypted_value",)


@admin.register(WorkflowArtifact)
class WorkflowArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "run", "size_bytes", "file_count", "expires_at", "created_at")
    list_filter = ("mime_type",)
    search_fields = ("name", "run__id", "r2_key")
    raw_id_fields = ("run", "job")


@admin.register(WorkflowRunEvent)
class WorkflowRunEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("run__id", "type")
    raw_id_fields = ("run",)


@admin.register(WorkflowLogChunk)
class WorkflowLogChunkAdmin(admin.ModelAdmin):
    list_display = ("job", "offset")
    search_fields = ("job__id",)
    raw_id_fields = ("job",)


@admin.register(CommitStatus)
class CommitStatusAdmin(admin.ModelAdmin):
    list_display = ("context", "state", "repo", "sha", "updated_at")
    list_filter = ("state",)
    search_fields = ("context", "sha", "repo__name")
    raw_id_fields = ("repo", "run")
