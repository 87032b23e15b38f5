"""Personal access tokens and service tokens (the Auth schema group).

Only the SHA-256 of a token is stored; the clear text is shown once at creation.
Browser sessions use Django's session framework.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from takos.models import IdModel


class TokenQuerySet(models.QuerySet):
    def live(self) -> TokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class PersonalAccessToken(IdModel):
    PREFIX = "tak_pat_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16)
    scopes = models.JSONField(default=list)  # ["*"] or scope names
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]
        verbose_name = "personal access token"

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def scope_value(self) -> list[str] | str:
        return "*" if self.scopes in (["*"], "*") else list(self.scopes)


class ServiceToken(IdModel):
    """Tokens for internal callers (other Takos processes, operator scripts)."""

    PREFIX = "tak_svc_"

    service_name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16)
    scopes = models.JSONField(default=list)
    # Acting user, when the service acts for someone; None = service principal (no user APIs).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.service_name} ({self.token_prefix}…)"

    @property
    def scope_value(self) -> list[str] | str:
        return "*" if self.scopes in (["*"], "*") else list(self.scopes)
