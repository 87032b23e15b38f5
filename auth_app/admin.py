from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from auth_app import token_cache
from auth_app.models import PersonalAccessToken, ServiceToken


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        now = timezone.now()
        if self.value() == "live":
            return queryset.live()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.action(description="Revoke selected tokens")
def revoke_tokens(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    live = queryset.filter(revoked_at__isnull=True)
    owners = {token_cache.owner_key(user_id, digest) for user_id, digest in live.values_list("user_id", "token_hash")}
    count = live.update(revoked_at=timezone.now())
    for owner in owners:
        token_cache.invalidate(owner)
    modeladmin.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "token_prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter, "created_at"]
    search_fields = ["name", "token_prefix", "user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["id", "token_hash", "token_prefix", "created_at", "last_used_at"]
    actions = [revoke_tokens]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created by their owner, who sees the clear text once


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    list_display = ["service_name", "token_prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter]
    search_fields = ["service_name", "token_prefix"]
    readonly_fields = ["id", "token_hash", "token_prefix", "created_at", "last_used_at"]
    actions = [revoke_tokens]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # use `manage.py create_service_token`, which prints the token once
