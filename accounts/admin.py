from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Block, Follow, FollowRequest, Membership, Mute, Space, User
from accounts.services import user_deactivate


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "space"
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "display_name", "is_active", "is_staff", "setup_completed", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "setup_completed", "private_account"]
    search_fields = ["username", "email", "display_name", "id"]
    ordering = ["-date_joined"]
    readonly_fields = ["id", "date_joined", "last_login", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "username", "email", "password"]}),
        ("Profile", {"fields": ["display_name", "picture", "bio"]}),
        ("Settings", {"fields": ["setup_completed", "auto_update_enabled", "private_account", "activity_visibility"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["date_joined", "last_login", "updated_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["username", "email", "password1", "password2"]})]
    actions = ["deactivate_accounts"]

    @admin.action(description="Deactivate selected accounts (signs out, revokes tokens)")
    def deactivate_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset.filter(is_active=True):
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot deactivate your own account.", messages.WARNING)
                continue
            user_deactivate(user=user)
            count += 1
        self.message_user(request, f"Deactivated {count} account(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change) -> None:  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        from accounts.services import ensure_personal_space

        ensure_personal_space(obj)


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "kind", "owner", "security_posture", "ai_provider", "ai_model", "created_at"]
    list_filter = ["kind", "security_posture", "ai_provider"]
    search_fields = ["slug", "name", "id", "owner__username"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["space", "user", "role", "created_at"]
    list_filter = ["role", "space__kind"]
    search_fields = ["space__slug", "user__username", "user__email"]
    autocomplete_fields = ["space", "user", "invited_by"]
    list_select_related = ["space", "user"]


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "following", "created_at"]
    search_fields = ["follower__username", "following__username"]
    list_select_related = ["follower", "following"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__username", "blocked__username"]
    list_select_related = ["blocker", "blocked"]


@admin.register(Mute)
class MuteAdmin(admin.ModelAdmin):
    list_display = ["muter", "muted", "created_at"]
    search_fields = ["muter__username", "muted__username"]
    list_select_related = ["muter", "muted"]


@admin.register(FollowRequest)
class FollowRequestAdmin(admin.ModelAdmin):
    list_display = ["requester", "target", "status", "created_at", "responded_at"]
    list_filter = ["status"]
    search_fields = ["requester__username", "target__username"]
    list_select_related = ["requester", "target"]
