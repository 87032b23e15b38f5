"""The Agents schema group: threads, messages, runs, run events, artifacts, memories, skills, tasks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents.querysets import RunQuerySet, ThreadQuerySet
from takos.models import IdModel, TimestampedModel


class Thread(TimestampedModel):
    class Status(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"
        DELETED = "deleted"

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="threads")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    title = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=5, blank=True)  # ja | en
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    summary = models.TextField(blank=True)
    key_points = models.JSONField(default=list, blank=True)
    context_window = models.PositiveSmallIntegerField(default=50)  # 20..200 messages sent to the model
    # Set on threads created for a sub-run, so they stay out of the space's thread list.
    parent_run = models.ForeignKey("agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = ThreadQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["space", "status", "updated_at"])]

    def __str__(self) -> str:
        return self.title or self.id


class Message(IdModel):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"
        TOOL = "tool"

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey("agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    sequence = models.PositiveIntegerField(default=0)
    # Executor writes carry a key so a replayed turn never adds the same message twice.
    operation_key = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["thread", "sequence"]), models.Index(fields=["thread", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["run", "operation_key"], condition=~models.Q(operation_key=""),
                                    name="agents_message_run_op_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.thread_id}#{self.sequence} {self.role}"


class Run(IdModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.PENDING, Status.QUEUED, Status.RUNNING)
    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="runs")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    session_id = models.CharField(max_length=16, blank=True)
    parent_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    root_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    root_thread = models.ForeignKey(Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    agent_type = models.CharField(max_length=50, default="default")
    model = models.CharField(max_length=100, blank=True)
    multitask_strategy = models.CharField(max_length=10, default="enqueue")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    last_event_id = models.PositiveIntegerField(default=0)
    input = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    usage = models.JSONField(default=dict, blank=True)
    # Lease: the worker that claimed the run writes its random id and heartbeats.
    service_id = models.CharField(max_length=40, null=True, blank=True)
    service_heartbeat = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_version = models.PositiveIntegerField(default=0)
    recovery_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["thread", "status"]),
            models.Index(fields=["space", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class RunEvent(models.Model):
    """One stream event; `seq` is the per-run sequence (the SSE `id:`)."""

    TERMINAL_TYPES = ("completed", "error", "cancelled", "run.failed")

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="agents_runevent_run_seq_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.seq} {self.type}"


class Artifact(IdModel):
    class Type(models.TextChoices):
        CODE = "code"
        CONFIG = "config"
        DOC = "doc"
        PATCH = "patch"
        REPORT = "report"
        OTHER = "other"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.CODE)
    title = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True)
    file_id = models.CharField(max_length=12, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title or self.id


class ToolOperation(IdModel):
    """Idempotent tool replay: (run, operation_key) runs its side effect at most once."""

    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        FAILED = "failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tool_operations")
    operation_key = models.CharField(max_length=120)
    tool_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    arguments = models.JSONField(default=dict, blank=True)
    result_output = models.TextField(blank=True)
    result_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "operation_key"], name="agents_toolop_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.operation_key} {self.tool_name}"


class ThreadShare(IdModel):
    class Mode(models.TextChoices):
        PUBLIC = "public"
        PASSWORD = "password"

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="shares")
    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PUBLIC)
    password_hash = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"share {self.id} of {self.thread_id}"


class Memory(TimestampedModel):
    class Type(models.TextChoices):
        EPISODE = "episode"
        SEMANTIC = "semantic"
        PROCEDURAL = "procedural"

    MAX_PER_SPACE = 10_000

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="memories")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    thread = models.ForeignKey(Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    type = models.CharField(max_length=10, choices=Type.choices)
    category = models.CharField(max_length=100, blank=True)
    content = models.TextField()
    summary = models.TextField(blank=True)
    importance = models.FloatField(default=0.5)
    tags = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    access_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "memories"

    def __str__(self) -> str:
        return self.summary or self.content[:60]


class Skill(TimestampedModel):
    """A custom skill of a space; the official catalog lives in `agents.skills_catalog`."""

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="skills")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    instructions = models.TextField()
    triggers = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "name"], name="agents_skill_space_name_unique")]

    def __str__(self) -> str:
        return self.name


class AgentTask(TimestampedModel):
    class Status(models.TextChoices):
        PLANNED = "planned"
        IN_PROGRESS = "in_progress"
        BLOCKED = "blocked"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    class Priority(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        URGENT = "urgent"

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="agent_tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    thread = models.ForeignKey(Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    agent_type = models.CharField(max_length=50, default="default")
    model = models.CharField(max_length=100, blank=True)
    plan = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title
