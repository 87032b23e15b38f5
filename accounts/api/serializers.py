"""Input serializers and output shapes for users and spaces."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import Membership, Role, Space, User


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "picture": user.picture or None,
        "bio": user.bio,
        "setup_completed": user.setup_completed,
        "is_operator": user.is_staff,
        "created_at": _iso(user.date_joined),
    }


def profile_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "picture": user.picture or None,
        "bio": user.bio,
        "private_account": user.private_account,
        "created_at": _iso(user.date_joined),
    }


def settings_out(user: User) -> dict[str, Any]:
    return {
        "setup_completed": user.setup_completed,
        "auto_update_enabled": user.auto_update_enabled,
        "private_account": user.private_account,
        "activity_visibility": user.activity_visibility,
    }


SPACE_FIELDS = ("id", "kind", "slug", "name", "description", "picture", "ai_model", "ai_provider",
                "security_posture", "owner_id", "created_at", "updated_at")


def space_out(space: Space | dict[str, Any], role: str | None = None) -> dict[str, Any]:
    """A space from a model instance, or from a `values()` row holding SPACE_FIELDS (list pages)."""
    get = space.get if isinstance(space, dict) else lambda name: getattr(space, name)
    body = {
        "id": get("id"),
        "kind": get("kind"),
        "slug": get("slug"),
        "name": get("name"),
        "description": get("description"),
        "picture": get("picture") or None,
        "ai_model": get("ai_model"),
        "ai_provider": get("ai_provider"),
        "security_posture": get("security_posture"),
        "owner_id": get("owner_id"),
        "created_at": _iso(get("created_at")),
        "updated_at": _iso(get("updated_at")),
    }
    if role is not None:
        body["member_role"] = role
    return body


def space_row_out(row: dict[str, Any]) -> dict[str, Any]:
    """A list-page row of `selectors.space_page` (SPACE_FIELDS with ISO timestamps, member_role):
    the same shape as `space_out`, built without a per-field lookup."""
    row["picture"] = row["picture"] or None
    return row


def member_out(membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "picture": user.picture or None,
        "role": membership.role,
        "created_at": _iso(membership.created_at),
    }


class SettingsIn(serializers.Serializer):
    setup_completed = serializers.BooleanField(required=False)
    auto_update_enabled = serializers.BooleanField(required=False)
    private_account = serializers.BooleanField(required=False)
    activity_visibility = serializers.ChoiceField(choices=User.ActivityVisibility.choices, required=False)
    display_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    picture = serializers.URLField(max_length=500, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SpaceCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    id = serializers.CharField(max_length=39, required=False, help_text="Optional slug for the space.")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SpaceUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    picture = serializers.URLField(max_length=500, required=False, allow_blank=True)
    ai_model = serializers.CharField(max_length=100, required=False)
    ai_provider = serializers.CharField(max_length=50, required=False)
    security_posture = serializers.ChoiceField(choices=Space.SecurityPosture.choices, required=False)


class ModelIn(serializers.Serializer):
    model = serializers.CharField(max_length=100, required=False)
    provider = serializers.CharField(max_length=50, required=False)


MEMBER_ROLES = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.VIEWER]


class MemberAddIn(serializers.Serializer):
    email = serializers.EmailField(required=False)
    username = serializers.CharField(max_length=39, required=False)
    role = serializers.ChoiceField(choices=MEMBER_ROLES, default=Role.VIEWER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("username"):
            raise serializers.ValidationError({"email": ["Give the email or the username of an existing account."]})
        return attrs


class MemberUpdateIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=MEMBER_ROLES)
