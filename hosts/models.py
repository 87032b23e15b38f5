"""Container hosts: proxy tokens, the container registry and container callbacks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from takos.models import IdModel


class ProxyTokenQuerySet(models.QuerySet):
    def live(self) -> ProxyTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ProxyToken(IdModel):
    """A short-lived credential handed to one container (`tak_pxy_`, stored as SHA-256).

    `owner` names what the container works for ("session:<id>", "run:<id>", "job:<id>",
    "browser:<id>"); `capabilities` names what it may call under /internal/.
    """

    PREFIX = "tak_pxy_"

    token_hash = models.CharField(max_length=64, unique=True)
    owner = models.CharField(max_length=80, db_index=True)
    capabilities = models.JSONField(default=list)
    space = models.ForeignKey("accounts.Space", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    repo_id = models.CharField(max_length=12, blank=True, default="")  # the one repository it may read/write
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProxyTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "proxy token"

    def __str__(self) -> str:
        return f"{self.owner} {','.join(self.capabilities)}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class ContainerRecord(models.Model):
    """What the control plane knows about a container (synced from the engine by recovery)."""

    class State(models.TextChoices):
        CREATED = "created"
        RUNNING = "running"
        EXITED = "exited"
        MISSING = "missing"
        STOPPED = "stopped"  # stopped and removed by Takos

    id = models.CharField(primary_key=True, max_length=80)  # driver container id
    driver = models.CharField(max_length=16)
    role = models.CharField(max_length=16, db_index=True)
    owner = models.CharField(max_length=80, db_index=True)
    image = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING, db_index=True)
    exit_code = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True, default="")
    ports = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "container"
        indexes = [models.Index(fields=["role", "state"])]

    def __str__(self) -> str:
        return f"{self.role} {self.id[:12]} ({self.owner})"


class HostEvent(IdModel):
    """An event or log chunk a container reported through /internal/events or /internal/logs."""

    owner = models.CharField(max_length=80, db_index=True)
    kind = models.CharField(max_length=16)  # event | log
    type = models.CharField(max_length=80, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "container event"
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.owner} {self.kind} {self.type}"
