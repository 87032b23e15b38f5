"""The OAuth group: clients (swapped-in DOT Application), consents and the audit trail.

Tokens, codes, ID tokens and device grants stay django-oauth-toolkit's own models. Access and
refresh tokens are stored only as SHA-256 checksums (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from oauth2_provider.models import AbstractApplication, ApplicationManager

from takos.models import IdModel

GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
SUPPORTED_GRANT_TYPES = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE)

# DOT keeps one grant constant per application; Takos clients hold a list of RFC 7591 names.
DOT_TO_RFC_GRANT = {
    AbstractApplication.GRANT_AUTHORIZATION_CODE: GRANT_AUTHORIZATION_CODE,
    AbstractApplication.GRANT_CLIENT_CREDENTIALS: GRANT_CLIENT_CREDENTIALS,
    AbstractApplication.GRANT_DEVICE_CODE: GRANT_DEVICE_CODE,
}
RFC_TO_DOT_GRANT = {v: k for k, v in DOT_TO_RFC_GRANT.items()}
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
DEVICE_CODE_TTL = 15 * 60  # seconds a device/user code pair lives (RFC 8628 expires_in)


class OAuthClient(AbstractApplication):
    """A registered OAuth client (the `oauth_clients` table of the spec).

    `grant_types` (RFC 7591 names) is authoritative; DOT's single `authorization_grant_type`
    keeps the primary one so DOT's own forms and checks stay meaningful.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        REVOKED = "revoked"

    grant_types = models.JSONField(default=list, blank=True)
    allowed_scopes = models.JSONField(default=list, blank=True, help_text="Empty = every scope.")
    description = models.TextField(blank=True)
    client_uri = models.URLField(max_length=500, blank=True)
    logo_uri = models.URLField(max_length=500, blank=True)
    policy_uri = models.URLField(max_length=500, blank=True)
    tos_uri = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    objects = ApplicationManager()

    class Meta(AbstractApplication.Meta):
        db_table = "oauth_clients"
        verbose_name = "OAuth client"
        indexes = [models.Index(fields=["user", "created"])]

    def natural_key(self) -> tuple[str]:
        return (self.client_id,)

    @property
    def rfc_grant_types(self) -> list[str]:
        if self.grant_types:
            return list(self.grant_types)
        primary = DOT_TO_RFC_GRANT.get(self.authorization_grant_type)
        if primary is None:
            return []
        extra = [GRANT_REFRESH_TOKEN] if primary in (GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE) else []
        return [primary, *extra]

    def allows_grant_type(self, *grant_types: str) -> bool:
        mine = set(self.rfc_grant_types)
        return any(DOT_TO_RFC_GRANT.get(g, g) in mine for g in grant_types)

    def allows_refresh(self) -> bool:
        return GRANT_REFRESH_TOKEN in self.rfc_grant_types

    def is_usable(self, request: Any) -> bool:
        return self.status == self.Status.ACTIVE

    def get_allowed_schemes(self) -> list[str]:
        return list(settings.OAUTH2_PROVIDER["ALLOWED_REDIRECT_URI_SCHEMES"])

    @property
    def is_dynamic(self) -> bool:
        return self.registration_source == self.RegistrationSource.DCR

    @property
    def scope_list(self) -> list[str]:
        from takos.api.scopes import SCOPES

        return list(self.allowed_scopes) if self.allowed_scopes else list(SCOPES)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, list[str]] = {}
        # RFC 9700 §2.1: plain http redirect URIs only for loopback (native apps, RFC 8252).
        if not settings.TAKOS_OAUTH_ALLOW_HTTP_REDIRECTS:
            for uri in self.redirect_uris.split():
                parts = urlsplit(uri)
                if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
                    errors.setdefault("redirect_uris", []).append(f"{uri}: http is only allowed for loopback hosts.")
        unknown = [g for g in self.grant_types if g not in SUPPORTED_GRANT_TYPES]
        if unknown:
            errors["grant_types"] = [f"Unsupported grant types: {', '.join(unknown)}."]
        if GRANT_CLIENT_CREDENTIALS in self.grant_types and self.client_type != self.CLIENT_CONFIDENTIAL:
            errors.setdefault("grant_types", []).append("client_credentials needs a confidential client.")
        if GRANT_AUTHORIZATION_CODE in self.grant_types and not self.redirect_uris.split():
            errors.setdefault("redirect_uris", []).append("authorization_code needs at least one redirect URI.")
        from takos.api.scopes import SCOPES

        bad_scopes = [s for s in self.allowed_scopes if s not in SCOPES]
        if bad_scopes:
            errors["allowed_scopes"] = [f"Unknown scopes: {', '.join(bad_scopes)}."]
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every client can ask for `openid`; ID tokens are RS256-signed with the server key.
        if not self.algorithm:
            self.algorithm = self.RS256_ALGORITHM
        self.sync_primary_grant()
        super().save(*args, **kwargs)

    def sync_primary_grant(self) -> None:
        """Mirror the first grant of `grant_types` into DOT's single-valued field."""
        primary = next((RFC_TO_DOT_GRANT[g] for g in self.grant_types if g in RFC_TO_DOT_GRANT), None)
        if primary:
            self.authorization_grant_type = primary


class OAuthConsent(IdModel):
    """A person's remembered grant to one client; skips the consent screen until revoked."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents")
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="consents")
    scopes = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    granted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "oauth_consents"
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="oauth_consent_user_client_unique")]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.client_id} ({self.status})"

    def covers(self, scopes: list[str]) -> bool:
        return self.status == self.Status.ACTIVE and set(scopes) <= set(self.scopes)


class OAuthAuditLog(IdModel):
    """What happened with OAuth for a person: approvals, tokens, revocations, reuse alarms."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="oauth_audit_logs"
    )
    client_id = models.CharField(max_length=255, blank=True, db_index=True)
    event_type = models.CharField(max_length=64, db_index=True)
    ip_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "oauth_audit_logs"
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.client_id}"


# --- Takos as an MCP client ----------------------------------------------------------------------
def new_mcp_id() -> str:
    from takos.api.ids import new_id

    return new_id(16)  # the spec gives MCP servers 16-character ids


class MCPServer(models.Model):
    """An external MCP server a space connected (streamable HTTP), with its OAuth tokens.

    Tokens and the dynamically registered client secret are Fernet-encrypted at rest
    (`services.crypto`); `oauth_client_id`, `oauth_token_endpoint` and `oauth_resource` are
    kept so the tokens can be refreshed without repeating discovery.
    """

    class AuthMode(models.TextChoices):
        OAUTH_PKCE = "oauth_pkce"
        NONE = "none"

    id = models.CharField(primary_key=True, max_length=16, default=new_mcp_id, editable=False)
    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="mcp_servers",
                              db_column="account_id")
    name = models.CharField(max_length=40)
    url = models.URLField(max_length=1000)
    transport = models.CharField(max_length=32, default="streamable-http")
    source_type = models.CharField(max_length=32, default="external")
    auth_mode = models.CharField(max_length=16, choices=AuthMode.choices, default=AuthMode.OAUTH_PKCE)
    oauth_access_token = models.TextField(blank=True, help_text="Encrypted.")
    oauth_refresh_token = models.TextField(blank=True, help_text="Encrypted.")
    oauth_token_expires_at = models.DateTimeField(null=True, blank=True)
    oauth_scope = models.CharField(max_length=1000, blank=True)
    oauth_issuer_url = models.CharField(max_length=1000, blank=True)
    oauth_token_endpoint = models.CharField(max_length=1000, blank=True)
    oauth_resource = models.CharField(max_length=1000, blank=True)
    oauth_client_id = models.CharField(max_length=255, blank=True)
    oauth_client_secret = models.TextField(blank=True, help_text="Encrypted.")
    # A refresh in progress holds this lease (compare-and-set), so a rotated refresh token is
    # never sent twice (the provider may revoke the whole grant on reuse).
    refresh_lock_until = models.DateTimeField(null=True, blank=True)
    tools_snapshot = models.JSONField(default=list, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "mcp_servers"
        verbose_name = "MCP server"
        constraints = [models.UniqueConstraint(fields=["space", "name"], name="mcp_server_space_name_unique")]
        indexes = [models.Index(fields=["space", "enabled"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def connected(self) -> bool:
        return self.auth_mode == self.AuthMode.NONE or bool(self.oauth_access_token)

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        return "connected" if self.connected else "needs_authorization"

    @property
    def status_label(self) -> str:
        return self.status.replace("_", " ")


class MCPOAuthPending(IdModel):
    """PKCE state between "connect" and the OAuth callback; single use, short-lived."""

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="+", db_column="account_id")
    server = models.ForeignKey(MCPServer, on_delete=models.CASCADE, related_name="pending_authorizations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    server_name = models.CharField(max_length=40)
    server_url = models.URLField(max_length=1000)
    state = models.CharField(max_length=100, unique=True)
    code_verifier = models.TextField(help_text="Encrypted.")
    issuer_url = models.CharField(max_length=1000)
    token_endpoint = models.CharField(max_length=1000)
    resource = models.CharField(max_length=1000, blank=True)
    client_id = models.CharField(max_length=255)
    client_secret = models.TextField(blank=True, help_text="Encrypted.")
    redirect_uri = models.CharField(max_length=1000)
    scope = models.CharField(max_length=1000, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mcp_oauth_pending"
        verbose_name = "MCP OAuth pending authorization"

    def __str__(self) -> str:
        return f"{self.server_name} ({self.expires_at:%Y-%m-%d %H:%M})"


class ExternalIdentity(IdModel):
    """A local account's identity at an external OpenID provider (sign-in with Google, …)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "oauth_external_identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oauth_external_identity_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.issuer}"
