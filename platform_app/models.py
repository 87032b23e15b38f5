"""Platform models: runtime sessions and browser sessions (hosts helper's part).

Other parts of platform_app (notifications, ...) add their models below their own heading.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from takos.models import TimestampedModel

# --- runtime and browser sessions --------------------------------------------------------


class RuntimeSession(TimestampedModel):
    """A runtime container workspace on a repository branch (spec table `sessions`)."""

    class Status(models.TextChoices):
        INITIALIZING = "initializing"
        RUNNING = "running"
        STOPPED = "stopped"  # container gone, workspace kept: can resume
        MERGED = "merged"  # stopped with a commit written back to the branch
        DISCARDED = "discarded"  # workspace deleted
        DEAD = "dead"  # no heartbeat: stopped by the cron, workspace kept
        FAILED = "failed"  # the container died (crash, OOM, timeout); see `error`

    LIVE = (Status.INITIALIZING, Status.RUNNING)

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="runtime_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="runtime_sessions")
    repo = models.ForeignKey("repos.Repository", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="runtime_sessions")
    branch = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INITIALIZING, db_index=True)
    base_sha = models.CharField(max_length=40, blank=True, default="")
    head_sha = models.CharField(max_length=40, blank=True, default="")  # the commit written by stop
    driver = models.CharField(max_length=16, blank=True, default="")
    container_id = models.CharField(max_length=80, blank=True, default="")
    runtime_port = models.PositiveIntegerField(null=True, blank=True)
    workspace_path = models.CharField(max_length=500, blank=True, default="")
    error = models.TextField(blank=True, default="")
    last_heartbeat = models.DateTimeField(null=True, blank=True, db_index=True)  # container or user
    last_activity_at = models.DateTimeField(null=True, blank=True)  # user calls only (idle stop)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "platform_sessions"
        verbose_name = "runtime session"
        indexes = [models.Index(fields=["space", "status"])]

    def __str__(self) -> str:
        return f"session {self.id} ({self.status})"

    @property
    def owner(self) -> str:
        return f"session:{self.id}"


class BrowserSession(TimestampedModel):
    """A headless Chromium in a browser container, driven over CDP."""

    class Status(models.TextChoices):
        STARTING = "starting"
        ACTIVE = "active"
        CLOSED = "closed"
        FAILED = "failed"

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="browser_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="browser_sessions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTING, db_index=True)
    url = models.TextField(blank=True, default="")
    title = models.CharField(max_length=500, blank=True, default="")
    viewport = models.JSONField(default=dict, blank=True)
    driver = models.CharField(max_length=16, blank=True, default="")
    container_id = models.CharField(max_length=80, blank=True, default="")
    cdp_port = models.PositiveIntegerField(null=True, blank=True)
    last_screenshot = models.CharField(max_length=300, blank=True, default="")  # storage key
    error = models.TextField(blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "browser session"
        indexes = [models.Index(fields=["space", "status"])]

    def __str__(self) -> str:
        return f"browser {self.id} ({self.status})"

    @property
    def owner(self) -> str:
        return f"browser:{self.id}"


# --- notifications and dead letters (agents helper's part) --------------------------------


def _notification_id() -> str:
    from takos.api.ids import new_id

    return new_id(16)


class Notification(models.Model):
    """An in-app notification. `seq` is the per-recipient stream position (the SSE `id:`)."""

    TYPES = (
        "deploy.completed", "deploy.failed", "run.completed", "run.failed", "pr.review.requested", "pr.comment",
        "social.followed", "social.follow.requested", "social.follow.accepted", "workspace.invite",
        "billing.quota_warning", "security.new_login", "thread.mention",
    )

    id = models.CharField(primary_key=True, max_length=16, default=_notification_id, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    space = models.ForeignKey("accounts.Space", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    seq = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=10, default="skipped")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "read_at"]), models.Index(fields=["recipient", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["recipient", "seq"], name="platform_notification_seq_unique")]

    def __str__(self) -> str:
        return f"{self.type} → {self.recipient_id}"


class NotificationPreference(models.Model):
    class Channel(models.TextChoices):
        IN_APP = "in_app"
        EMAIL = "email"
        PUSH = "push"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "type", "channel"], name="platform_notif_pref_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.type}/{self.channel}={self.enabled}"


class NotificationSettings(models.Model):
    """Per-user notification settings; its row also serialises `seq` allocation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")
    muted_until = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"


class DeadLetter(models.Model):
    """A task message that exhausted its retries (spec `dlq_entries`)."""

    id = models.BigAutoField(primary_key=True)
    queue = models.CharField(max_length=40, db_index=True)
    message_body = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.queue} dead letter {self.id}"
