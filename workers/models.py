"""Apps, immutable deployments and their events, rollouts, custom domains, runtime settings, managed tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from takos.models import TimestampedModel


class App(TimestampedModel):
    """An app registry entry: one per (space, manifest `metadata.name`), served by one service."""

    class Type(models.TextChoices):
        PLATFORM = "platform"
        BUILTIN = "builtin"
        CUSTOM = "custom"

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="apps")
    service = models.OneToOneField("services.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="app")
    repo = models.ForeignKey("repos.Repository", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=40)
    description = models.TextField(blank=True, default="")
    icon = models.CharField(max_length=200, blank=True, default="")
    app_type = models.CharField(max_length=10, choices=Type.choices, default=Type.CUSTOM)
    takos_client_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "name"], name="workers_app_space_name_unique")]

    def __str__(self) -> str:
        return self.name


class Deployment(TimestampedModel):
    """One immutable version of a service: artifact, config and env snapshot, and its runtime."""

    class Status(models.TextChoices):
        PENDING = "pending"
        BUILDING = "building"
        DEPLOYING = "deploying"
        ACTIVE = "active"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"
        SUPERSEDED = "superseded"

    class Routing(models.TextChoices):
        ACTIVE = "active"
        CANARY = "canary"
        ROLLBACK = "rollback"
        ARCHIVED = "archived"

    class ArtifactKind(models.TextChoices):
        SOURCE = "source"
        IMAGE = "container-image"
        WORKFLOW = "workflow-artifact"

    class Strategy(models.TextChoices):
        IMMEDIATE = "immediate"
        CANARY = "canary"

    TERMINAL = (Status.ACTIVE, Status.FAILED, Status.ROLLED_BACK, Status.SUPERSEDED)
    # Deployments whose runtime may receive traffic or be flipped back to.
    SERVABLE = (Status.ACTIVE, Status.DEPLOYING, Status.SUPERSEDED, Status.ROLLED_BACK)

    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="deployments")
    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    deploy_state = models.CharField(max_length=20, default="pending")
    current_step = models.CharField(max_length=40, blank=True, default="")
    step_error = models.TextField(blank=True, default="")
    strategy = models.CharField(max_length=10, choices=Strategy.choices, default=Strategy.IMMEDIATE)
    routing_status = models.CharField(max_length=10, choices=Routing.choices, default=Routing.ARCHIVED)
    routing_weight = models.PositiveSmallIntegerField(default=0)
    artifact_kind = models.CharField(max_length=20, choices=ArtifactKind.choices, default=ArtifactKind.SOURCE)
    artifact_ref = models.CharField(max_length=200, blank=True, default="")
    image = models.CharField(max_length=300, blank=True, default="")
    run_command = models.TextField(blank=True, default="")
    port = models.PositiveIntegerField(default=8080)
    repo = models.ForeignKey("repos.Repository", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ref = models.CharField(max_length=255, blank=True, default="")
    ref_type = models.CharField(max_length=10, blank=True, default="")
    commit_sha = models.CharField(max_length=40, blank=True, default="")
    manifest = models.JSONField(default=dict, blank=True)  # the workload's validated config snapshot
    env_snapshot_encrypted = models.TextField(blank=True, default="")
    provider_name = models.CharField(max_length=20, default="runtime-host")
    provider_state = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    deploy_message = models.CharField(max_length=500, blank=True, default="")
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    is_rollback = models.BooleanField(default=False)
    rollback_from_version = models.PositiveIntegerField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Lease held by the deployment task while it builds and starts the runtime.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Runtime: the container serving this version (started on demand, stopped when idle).
    container_id = models.CharField(max_length=100, blank=True, default="")
    container_driver = models.CharField(max_length=10, blank=True, default="")
    endpoint = models.CharField(max_length=200, blank=True, default="")  # http://127.0.0.1:<port>
    runtime_started_at = models.DateTimeField(null=True, blank=True)
    last_request_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["service", "version"], name="workers_deployment_version_unique"),
            models.UniqueConstraint(fields=["service", "idempotency_key"], name="workers_deployment_idem_unique"),
        ]
        indexes = [models.Index(fields=["service", "routing_status"]), models.Index(fields=["space", "created_at"])]

    def __str__(self) -> str:
        return f"{self.service_id} v{self.version}"

    @property
    def owner(self) -> str:
        return f"deployment:{self.id}"


class DeploymentEvent(models.Model):
    """What happened to a deployment, in order (autoincrement id, as in the reference schema)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    event_type = models.CharField(max_length=30)
    step_name = models.CharField(max_length=40, blank=True, default="")
    message = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.deployment_id} {self.event_type}"


class Rollout(TimestampedModel):
    """A canary rollout of `deployment` against `baseline` (the version serving the rest)."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        PAUSED = "paused"
        COMPLETED = "completed"
        ABORTED = "aborted"
        FAILED = "failed"  # unhealthy: rolled back automatically

    LIVE = (State.IN_PROGRESS, State.PAUSED)

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="rollout")
    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="rollouts")
    baseline = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS, db_index=True)
    steps = models.JSONField(default=list)  # percentages, last is 100
    step_index = models.PositiveSmallIntegerField(default=0)
    interval_seconds = models.FloatField(default=60)
    max_error_rate = models.FloatField(default=0.05)
    min_requests = models.PositiveIntegerField(default=20)
    step_started_at = models.DateTimeField(null=True, blank=True)
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_gate = models.JSONField(default=dict, blank=True)  # the last health decision, for the console
    reason = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"rollout {self.deployment_id} {self.state}"

    @property
    def weight(self) -> int:
        if self.state == self.State.COMPLETED:
            return 100
        if self.state in (self.State.ABORTED, self.State.FAILED):
            return 0
        return int(self.steps[min(self.step_index, len(self.steps) - 1)]) if self.steps else 0


class CustomDomain(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        VERIFIED = "verified"
        FAILED = "failed"

    class Method(models.TextChoices):
        HTTP = "http"
        TXT = "txt"
        CNAME = "cname"

    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="custom_domains")
    domain = models.CharField(max_length=253, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    verification_method = models.CharField(max_length=10, choices=Method.choices, default=Method.HTTP)
    verification_token = models.CharField(max_length=64)
    ssl_status = models.CharField(max_length=20, default="pending")
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    check_failures = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return self.domain


class RuntimeSettings(models.Model):
    """Per-service runtime settings (`/api/services/:id/settings`)."""

    service = models.OneToOneField("services.Service", primary_key=True, on_delete=models.CASCADE,
                                   related_name="runtime_settings")
    compatibility_date = models.CharField(max_length=10, blank=True, default="")
    compatibility_flags = models.JSONField(default=list, blank=True)
    cpu_ms = models.PositiveIntegerField(null=True, blank=True)
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    subrequests = models.PositiveIntegerField(null=True, blank=True)
    mcp_server = models.JSONField(default=dict, blank=True)  # {enabled, name, path}
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "runtime settings"

    def __str__(self) -> str:
        return f"settings {self.service_id}"


class ManagedToken(TimestampedModel):
    """The scoped API token a service receives as an env var (builtin `TAKOS_ACCESS_TOKEN`).

    It is a real personal access token of `subject` (so the API authenticates it as usual);
    the clear text is kept encrypted so each deployment can inject it again.
    """

    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="managed_tokens")
    env_name = models.CharField(max_length=128, default="TAKOS_ACCESS_TOKEN")
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pat = models.ForeignKey("auth_app.PersonalAccessToken", null=True, on_delete=models.SET_NULL, related_name="+")
    scopes = models.JSONField(default=list)
    token_prefix = models.CharField(max_length=16, blank=True, default="")
    token_encrypted = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "env_name"], name="workers_managed_token_unique")]

    def __str__(self) -> str:
        return f"{self.service_id}:{self.env_name}"
