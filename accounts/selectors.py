"""Reads for accounts: spaces resolved for a viewer, roles, profiles."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.api.serializers import SPACE_FIELDS
from accounts.models import Block, Follow, Membership, Mute, Role, Space, User, role_at_least
from takos.api.errors import Forbidden, NotFound
from takos.api.ids import is_id
from takos.db.sql import fetch_one


@dataclass(frozen=True)
class SpaceAccess:
    space: Space
    role: str


def spaces_for_user(user: User) -> QuerySet[Space]:
    return Space.objects.for_user(user).select_related("owner").order_by("kind", "slug")


@dataclass(frozen=True)
class SpacePage:
    items: list[dict[str, Any]] | orjson.Fragment  # a Fragment: the rows already as JSON text
    count: int  # rows on this page
    total: int


def space_page(user: User, *, limit: int, offset: int) -> SpacePage:
    """One page of the user's spaces (SPACE_FIELDS + member_role), its size and the total.

    The hottest list of the API: the ORM's query building cost four times the query itself, so the
    statement is written once here from the models' own table and column names. The total is
    counted only when the page does not tell it (a full page, or an empty one past the start): a
    window count in the page query cost ten times a separate COUNT on SQLite. Timestamps come back
    as ISO 8601 text (what `datetime.isoformat()` gives for UTC): parsing 40 datetimes per page
    only to format them again was a third of the request.

    On SQLite the page and the total come back as one row (the page as one JSON array built by
    SQLite): the driver lets go of the GIL for every row it steps through, and under concurrent
    requests each of those hand-offs cost a thread switch, which made twenty rows cost more
    than the query. That JSON goes into the response as it is (an orjson Fragment): parsing it
    only to encode it again was a fifth of the request.
    """
    if connection.vendor == "sqlite":
        total, page, count = fetch_one(_space_page_json_sql(), [user.pk, user.pk, limit, offset])
        return SpacePage(items=orjson.Fragment(page), count=count, total=total)
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(_space_page_sql(connection.vendor), [user.pk, limit, offset])
        raw = cursor.fetchall()
        if len(raw) == limit or (offset and not raw):
            cursor.execute(_space_count_sql(), [user.pk])
            total = cursor.fetchone()[0]
        else:
            total = offset + len(raw)
    iso = _iso_text if connection.vendor == "sqlite" else _iso_value
    created, updated = SPACE_FIELDS.index("created_at"), SPACE_FIELDS.index("updated_at")
    for values in raw:
        row = dict(zip(SPACE_FIELDS, values, strict=False))
        row["created_at"], row["updated_at"] = iso(values[created]), iso(values[updated])
        row["member_role"] = values[len(SPACE_FIELDS)]
        rows.append(row)
    return SpacePage(items=rows, count=len(rows), total=total)


@functools.cache
def _space_page_sql(vendor: str) -> str:
    space, membership = Space._meta, Membership._meta

    def column(name: str) -> str:
        col = f"s.{space.get_field(name).column}"  # get_field knows "owner_id" too
        # SQLite: CAST drops the declared type, so the driver hands back the stored text unparsed.
        return f"CAST({col} AS TEXT)" if vendor == "sqlite" and name in ("created_at", "updated_at") else col

    return (
        f"SELECT {', '.join(column(name) for name in SPACE_FIELDS)}, m.{membership.get_field('role').column} "
        f"FROM {membership.db_table} m JOIN {space.db_table} s "
        f"ON s.{space.pk.column} = m.{membership.get_field('space').column} "
        f"WHERE m.{membership.get_field('user').column} = %s "
        f"ORDER BY s.{space.get_field('kind').column}, s.{space.get_field('slug').column} LIMIT %s OFFSET %s"
    )


@functools.cache
def _space_page_json_sql() -> str:
    """SQLite: (total, JSON array of the page's rows, row count), each row shaped as `space_row_out`
    gives it. The page is chosen on narrow rows (id, role and the sort key), and only its rows are
    then read whole: sorting all of a user's spaces with every column was half of the statement."""
    space, membership = Space._meta, Membership._meta
    user_col = membership.get_field("user").column
    kind, slug = space.get_field("kind").column, space.get_field("slug").column

    def value(name: str) -> str:
        col = f"s.{space.get_field(name).column}"
        if name in ("created_at", "updated_at"):
            # Django's stored text 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) has one space, between date
            # and time; one replace() is ~0.2 us a value cheaper than two substr() and a concatenation.
            return f"replace({col}, ' ', 'T') || '+00:00'"
        return f"NULLIF({col}, '')" if name == "picture" else col

    pairs = ", ".join(f"'{name}', {value(name)}" for name in SPACE_FIELDS)
    return (
        f"SELECT (SELECT COUNT(*) FROM {membership.db_table} WHERE {user_col} = %s), "
        f"json_group_array(json_object({pairs}, 'member_role', p.member_role)), COUNT(*) FROM ("
        f"SELECT m.{membership.get_field('space').column} AS space_id, "
        f"m.{membership.get_field('role').column} AS member_role, k.{kind} AS kind, k.{slug} AS slug "
        f"FROM {membership.db_table} m JOIN {space.db_table} k "
        f"ON k.{space.pk.column} = m.{membership.get_field('space').column} "
        f"WHERE m.{user_col} = %s ORDER BY k.{kind}, k.{slug} LIMIT %s OFFSET %s) p "
        f"JOIN {space.db_table} s ON s.{space.pk.column} = p.space_id"
    )


@functools.cache
def _space_count_sql() -> str:
    membership = Membership._meta
    return f"SELECT COUNT(*) FROM {membership.db_table} WHERE {membership.get_field('user').column} = %s"


def _iso_text(value: str | None) -> str | None:
    """Django stores SQLite datetimes as naive UTC `str(datetime)` ('YYYY-MM-DD HH:MM:SS[.ffffff]')."""
    return f"{value[:10]}T{value[11:]}+00:00" if value else None


def _iso_value(value: Any) -> str | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


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
