"""Services: the hostname-addressed workloads of a space, their env, common env links and bindings.

A service's deployments live in `workers` (immutable, versioned); the service holds the
routing pointers: `active_deployment` (serves 100 % minus the canary), `canary_deployment`
(`canary_weight` % of traffic while a rollout runs) and `fallback_deployment` (what a
one-step rollback flips back to).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from takos.models import TimestampedModel


class Service(TimestampedModel):
    class Type(models.TextChoices):
        APP = "app"
        SERVICE = "service"

    class Status(models.TextChoices):
        PENDING = "pending"
        BUILDING = "building"
        DEPLOYED = "deployed"
        FAILED = "failed"
        STOPPED = "stopped"

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="services")
    group_id = models.CharField(max_length=12, blank=True, default="")
    service_type = models.CharField(max_length=10, choices=Type.choices, default=Type.APP)
    slug = models.SlugField(max_length=63, unique=True)
    hostname = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    config = models.JSONField(default=dict, blank=True)
    workload_kind = models.CharField(max_length=20, blank=True, default="")
    # Source of app deployments (the repository holding .takos/app.yml) and the manifest workload name.
    repo = models.ForeignKey("repos.Repository", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    workload = models.CharField(max_length=40, blank=True, default="")
    current_version = models.PositiveIntegerField(default=0)
    active_deployment = models.ForeignKey("workers.Deployment", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    canary_deployment = models.ForeignKey("workers.Deployment", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    canary_weight = models.PositiveSmallIntegerField(default=0)
    fallback_deployment = models.ForeignKey("workers.Deployment", null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        indexes = [models.Index(fields=["space", "created_at"])]

    def __str__(self) -> str:
        return self.slug


class ServiceEnvVar(TimestampedModel):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="env_vars")
    name = models.CharField(max_length=128)
    value_encrypted = models.TextField()
    is_secret = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="services_env_unique")]
        verbose_name = "service env var"

    def __str__(self) -> str:
        return f"{self.service_id}:{self.name}"


class CommonEnvVar(TimestampedModel):
    """A space-wide variable that linked services receive (`/api/spaces/:id/common-env`)."""

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="common_env")
    name = models.CharField(max_length=128)
    value_encrypted = models.TextField()
    is_secret = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "name"], name="services_common_env_unique")]
        verbose_name = "common env var"

    def __str__(self) -> str:
        return f"{self.space_id}:{self.name}"


class CommonEnvLink(TimestampedModel):
    class Source(models.TextChoices):
        MANUAL = "manual"
        REQUIRED = "required"

    class SyncState(models.TextChoices):
        PENDING = "pending"
        MANAGED = "managed"
        OVERRIDDEN = "overridden"
        MISSING_COMMON = "missing_common"
        MISSING_BUILTIN = "missing_builtin"
        ERROR = "error"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="common_env_links")
    env_name = models.CharField(max_length=128)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    sync_state = models.CharField(max_length=20, choices=SyncState.choices, default=SyncState.PENDING)
    sync_reason = models.CharField(max_length=200, blank=True, default="")
    last_reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "env_name", "source"],
                                               name="services_common_link_unique")]

    def __str__(self) -> str:
        return f"{self.service_id}:{self.env_name}"


class ServiceBinding(TimestampedModel):
    class Type(models.TextChoices):
        SQL = "sql"
        OBJECT_STORE = "object_store"
        KV = "kv"
        QUEUE = "queue"
        VECTOR_INDEX = "vector_index"
        ANALYTICS_STORE = "analytics_store"
        SECRET = "secret"
        WORKFLOW_RUNTIME = "workflow_runtime"
        DURABLE_NAMESPACE = "durable_namespace"
        SERVICE = "service"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="bindings")
    # The resources slice owns resources; until then a binding names it by id or name.
    resource_id = models.CharField(max_length=12, blank=True, default="")
    resource_name = models.CharField(max_length=100, blank=True, default="")
    binding_name = models.CharField(max_length=100)
    binding_type = models.CharField(max_length=20, choices=Type.choices)
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "binding_name"], name="services_binding_unique")]

    def __str__(self) -> str:
        return f"{self.service_id}:{self.binding_name}"
