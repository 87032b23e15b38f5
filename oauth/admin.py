"""Admin for the OAuth group. DOT registers its own token, grant and ID-token admins (with a
revoke action); the client admin is replaced by ours and device grants are added."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from oauth2_provider.models import get_device_grant_model

from oauth.models import (
    ExternalIdentity,
    MCPOAuthPending,
    MCPServer,
    OAuthAuditLog,
    OAuthClient,
    OAuthConsent,
)
from oauth.services import revoke_user_client_tokens

if admin.site.is_registered(OAuthClient):
    admin.site.unregister(OAuthClient)


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    list_display = ("name", "client_id", "user", "client_type", "status", "registration_source", "created")
    list_filter = ("status", "client_type", "registration_source", "skip_authorization")
    search_fields = ("name", "client_id", "user__username", "redirect_uris")
    raw_id_fields = ("user",)
    readonly_fields = ("client_id", "created", "updated")
    exclude = ("client_secret",)  # stored hashed; rotate it from the console or the API
    actions = ("suspend", "activate")

    @admin.action(description="Suspend selected clients (their tokens stop working)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[OAuthClient]) -> None:
        count = queryset.update(status=OAuthClient.Status.SUSPENDED)
        self.message_user(request, f"{count} client(s) suspended.", messages.SUCCESS)

    @admin.action(description="Re-activate selected clients")
    def activate(self, request: HttpRequest, queryset: QuerySet[OAuthClient]) -> None:
        count = queryset.update(status=OAuthClient.Status.ACTIVE)
        self.message_user(request, f"{count} client(s) activated.", messages.SUCCESS)


@admin.register(OAuthConsent)
class OAuthConsentAdmin(admin.ModelAdmin):
    list_display = ("user", "client", "status", "granted_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("user__username", "client__name", "client__client_id")
    raw_id_fields = ("user", "client")
    actions = ("revoke",)

    @admin.action(description="Revoke selected grants and their tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[OAuthConsent]) -> None:
        for consent in queryset.select_related("user", "client"):
            revoke_user_client_tokens(user=consent.user, client=consent.client)
        count = queryset.update(status=OAuthConsent.Status.REVOKED)
        self.message_user(request, f"{count} grant(s) revoked.", messages.SUCCESS)


@admin.register(OAuthAuditLog)
class OAuthAuditLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_type", "user", "client_id", "ip_address")
    list_filter = ("event_type",)
    search_fields = ("client_id", "user__username", "ip_address")
    date_hierarchy = "created_at"
    readonly_fields = ("user", "client_id", "event_type", "ip_address", "user_agent", "details", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


DeviceGrant = get_device_grant_model()
if not admin.site.is_registered(DeviceGrant):

    @admin.register(DeviceGrant)
    class DeviceGrantAdmin(admin.ModelAdmin):
        list_display = ("client_id", "user", "status", "expires", "last_checked")
        list_filter = ("status",)
        search_fields = ("client_id", "user__username")
        raw_id_fields = ("user",)
        exclude = ("device_code",)


@admin.register(MCPServer)
class MCPServerAdmin(admin.ModelAdmin):
    list_display = ("name", "space", "url", "auth_mode", "enabled", "oauth_token_expires_at", "updated_at")
    list_filter = ("enabled", "auth_mode")
    search_fields = ("name", "url", "space__slug", "space__name")
    raw_id_fields = ("space", "created_by")
    readonly_fields = ("id", "oauth_issuer_url", "oauth_token_endpoint", "oauth_resource", "oauth_client_id",
                       "oauth_scope", "oauth_token_expires_at", "tools_snapshot", "last_error", "created_at",
                       "updated_at")
    # Encrypted at rest and never shown; "disconnect" forgets them.
    exclude = ("oauth_access_token", "oauth_refresh_token", "oauth_client_secret")
    actions = ("disconnect", "disable")

    @admin.action(description="Disconnect (forget the OAuth tokens)")
    def disconnect(self, request: HttpRequest, queryset: QuerySet[MCPServer]) -> None:
        count = queryset.update(oauth_access_token="", oauth_refresh_token="", oauth_token_expires_at=None)
        self.message_user(request, f"{count} server(s) disconnected.", messages.SUCCESS)

    @admin.action(description="Disable (agents stop seeing their tools)")
    def disable(self, request: HttpRequest, queryset: QuerySet[MCPServer]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} server(s) disabled.", messages.SUCCESS)


@admin.register(MCPOAuthPending)
class MCPOAuthPendingAdmin(admin.ModelAdmin):
    list_display = ("server_name", "space", "user", "issuer_url", "expires_at", "created_at")
    search_fields = ("server_name", "server_url", "issuer_url")
    raw_id_fields = ("space", "server", "user")
    exclude = ("code_verifier", "client_secret", "state")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "issuer", "email", "created_at", "last_login_at")
    search_fields = ("user__username", "email", "subject", "issuer")
    raw_id_fields = ("user",)
    readonly_fields = ("issuer", "subject", "created_at", "last_login_at")
