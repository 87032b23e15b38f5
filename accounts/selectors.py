"""Reads for accounts: spaces resolved for a viewer, roles, profiles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.api.serializers import SPACE_FIELDS
from accounts.models import Block, Follow, Membership, Mute, Role, Space, User, role_at_least
from takos.api.errors import Forbidden, NotFound
from takos.api.ids import is_id


@dataclass(frozen=True)
class SpaceAccess:
    space: Space
    role: str


def spaces_for_user(user: User) -> QuerySet[Space]:
    return Space.objects.for_user(user).select_related("owner").order_by("kind", "slug")


def space_page(user: User, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the user's spaces (SPACE_FIELDS + member_role) and the total, in one SQL query.

    The hottest list of the API: the ORM's query building cost four times the query itself, so the
    statement is written once here from the models' own table and column names. The total comes
    from a window count; it is None when the page is empty (the caller counts then).
    """
    space, membership = Space._meta, Membership._meta
    columns = [space.get_field(name).column for name in SPACE_FIELDS]  # get_field knows "owner_id" too
    sql = (
        f"SELECT {', '.join(f's.{c}' for c in columns)}, m.{membership.get_field('role').column}, COUNT(*) OVER () "
        f"FROM {membership.db_table} m JOIN {space.db_table} s ON s.{space.pk.column} = m.{membership.get_field('space').column} "
        f"WHERE m.{membership.get_field('user').column} = %s "
        f"ORDER BY s.{space.get_field('kind').column}, s.{space.get_field('slug').column} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, limit, offset])
        raw = cursor.fetchall()
    rows = []
    for values in raw:
        row = dict(zip(SPACE_FIELDS, values, strict=False))
        row["created_at"], row["updated_at"] = _aware(row["created_at"]), _aware(row["updated_at"])
        row["member_role"] = values[len(SPACE_FIELDS)]
        rows.append(row)
    return rows, (raw[0][-1] if raw else None)


def _aware(value: Any) -> datetime | None:
    """SQLite hands back naive UTC datetimes (or text); PostgreSQL hands back aware ones."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None or timezone.is_aware(parsed):
        return parsed
    return timezone.make_aware(parsed, UTC)


def personal_space(user: User) -> Space:
    return Space.objects.get(owner=user, kind=Space.Kind.PERSONAL)


def resolve_space(user: User, space_ref: str, *, min_role: str = Role.VIEWER) -> SpaceAccess:
    """Find a space by id, slug or `me` among the user's spaces.

    A space the user is not a member of is NOT_FOUND (never FORBIDDEN, so ids do not
    leak); a member below `min_role` gets FORBIDDEN.
    """
    qs = Membership.objects.select_related("space", "space__owner").filter(user=user)
    if space_ref == "me":
        qs = qs.filter(space__owner=user, space__kind=Space.Kind.PERSONAL)
    elif is_id(space_ref):
        qs = qs.filter(Q(space_id=space_ref) | Q(space__slug=space_ref))
    else:
        qs = qs.filter(space__slug=space_ref.lower())
    membership = qs.first()
    if membership is None:
        raise NotFound("Space not found.")
    if not role_at_least(membership.role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher in the space.")
    return SpaceAccess(space=membership.space, role=membership.role)


def members_of(space: Space) -> QuerySet[Membership]:
    return Membership.objects.filter(space=space).select_related("user").order_by("created_at")


def user_by_username(username: str) -> User:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise NotFound("User not found.")
    return user


def is_blocked_between(a: User, b: User) -> bool:
    return Block.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def relation_flags(viewer: User, target: User) -> dict[str, bool]:
    if not viewer.is_authenticated or viewer.pk == target.pk:
        return {"is_following": False, "is_followed_by": False, "is_blocking": False, "is_muting": False}
    return {
        "is_following": Follow.objects.filter(follower=viewer, following=target).exists(),
        "is_followed_by": Follow.objects.filter(follower=target, following=viewer).exists(),
        "is_blocking": Block.objects.filter(blocker=viewer, blocked=target).exists(),
        "is_muting": Mute.objects.filter(muter=viewer, muted=target).exists(),
    }


def follow_counts(user: User) -> dict[str, int]:
    return {
        "followers_count": Follow.objects.filter(following=user).count(),
        "following_count": Follow.objects.filter(follower=user).count(),
    }


def username_problem(username: str, *, exclude_user: User | None = None) -> str | None:
    """Why `username` cannot be taken, or None when it is free and well formed."""
    from django.core.exceptions import ValidationError

    from accounts.models import slug_validator

    if username in RESERVED_NAMES:
        return "This name is reserved."
    try:
        slug_validator(username)
    except ValidationError as exc:
        return exc.messages[0]
    users = User.objects.filter(username__iexact=username)
    spaces = Space.objects.filter(slug=username)
    if exclude_user is not None:
        users = users.exclude(pk=exclude_user.pk)
        spaces = spaces.exclude(owner=exclude_user, kind=Space.Kind.PERSONAL)
    if users.exists() or spaces.exists():
        return "This name is already taken."
    return None


# Names that would collide with console or API routes, or mislead.
RESERVED_NAMES = frozenset(
    {
        "admin", "api", "auth", "git", "oauth", "login", "logout", "signup", "settings", "spaces",
        "static", "health", "me", "new", "takos", "root", "system", "internal", "console", "docs",
        "explore", "users", "setup", "well-known", "tokens", "help", "support", "security",
    }
)
