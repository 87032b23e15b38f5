"""Writes for accounts: the only code that changes users, spaces and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import ROLE_RANK, Block, Follow, FollowRequest, Membership, Mute, Role, Space, User
from accounts.selectors import is_blocked_between, username_problem
from takos.api.errors import BadRequest, Conflict, Forbidden, NotFound
from takos.hooks import space_created


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details={"fields": {field: [message]}})


def user_create(*, username: str, email: str, password: str | None, display_name: str = "") -> User:
    """Create a user with their personal space. The very first account becomes the operator."""
    username = (username or "").strip().lower()
    email = (email or "").strip().lower()
    problem = username_problem(username)
    if problem == "This name is already taken.":
        raise Conflict("That username is already taken.", details={"fields": {"username": [problem]}})
    if problem:
        raise _field_error("username", problem)
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with that email already exists.", details={"fields": {"email": ["Already registered."]}})
    user = User(username=username, email=email, display_name=display_name)
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise BadRequest(exc.messages[0], details={"fields": {"password": exc.messages}}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            first = not User.objects.exists()
            user.is_staff = user.is_superuser = first or user.is_superuser
            user.save()
            _create_personal_space(user)
    except IntegrityError:
        raise Conflict("That username or email is already taken.") from None
    return user


def _create_personal_space(user: User) -> Space:
    space = Space.objects.create(
        kind=Space.Kind.PERSONAL, slug=user.username, name=user.display_name or user.username, owner=user
    )
    Membership.objects.create(space=space, user=user, role=Role.OWNER)
    return space


def ensure_personal_space(user: User) -> Space:
    """Users created by `createsuperuser` or the admin get their space lazily."""
    space = Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).first()
    if space is None:
        with transaction.atomic():
            space = _create_personal_space(user)
    return space


def user_change_username(*, user: User, username: str) -> User:
    username = (username or "").strip().lower()
    if username == user.username:
        return user
    problem = username_problem(username, exclude_user=user)
    if problem == "This name is already taken.":
        raise Conflict("That username is already taken.", details={"fields": {"username": [problem]}})
    if problem:
        raise _field_error("username", problem)
    with transaction.atomic():
        user.username = username
        user.save(update_fields=["username", "updated_at"])
        Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).update(slug=username)
    return user


def user_update_settings(*, user: User, data: dict[str, Any]) -> User:
    fields = []
    for name in ("setup_completed", "auto_update_enabled", "private_account", "activity_visibility",
                 "display_name", "picture", "bio"):
        if name in data:
            setattr(user, name, data[name])
            fields.append(name)
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


def user_deactivate(*, user: User) -> None:
    """Operator action: sign the user out everywhere and revoke their tokens."""
    from auth_app.services import revoke_all_tokens_for_user

    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active", "updated_at"])
        revoke_all_tokens_for_user(user=user)


def _unique_space_slug(base: str) -> str:
    base = (slugify(base)[:39].strip("-") or "space").lower()
    slug, n = base, 1
    while Space.objects.filter(slug=slug).exists() or User.objects.filter(username__iexact=slug).exists():
        n += 1
        suffix = f"-{n}"
        slug = f"{base[: 39 - len(suffix)]}{suffix}"
    return slug


def space_create(*, owner: User, name: str, description: str = "", slug: str | None = None) -> Space:
    name = (name or "").strip()
    if not name:
        raise _field_error("name", "This field is required.")
    if slug:
        slug = slug.strip().lower()
        problem = username_problem(slug)
        if problem == "This name is already taken.":
            raise Conflict("A space or user with that slug already exists.", details={"fields": {"id": [problem]}})
        if problem:
            raise _field_error("id", problem)
    else:
        slug = _unique_space_slug(name)
    try:
        with transaction.atomic():
            space = Space.objects.create(kind=Space.Kind.TEAM, slug=slug, name=name, description=description, owner=owner)
            Membership.objects.create(space=space, user=owner, role=Role.OWNER)
            space_created.send(sender=Space, space=space, actor=owner)
    except IntegrityError:
        raise Conflict("A space with that slug already exists.") from None
    return space


SPACE_EDITABLE = ("name", "description", "ai_model", "ai_provider", "security_posture", "picture")


def space_update(*, space: Space, data: dict[str, Any]) -> Space:
    fields = [name for name in SPACE_EDITABLE if name in data]
    for name in fields:
        setattr(space, name, data[name])
    if fields:
        space.save(update_fields=[*fields, "updated_at"])
    return space


def space_delete(*, space: Space) -> None:
    if space.kind == Space.Kind.PERSONAL:
        raise BadRequest("A personal space cannot be deleted; deactivate the account instead.")
    space.delete()


def _owner_count(space: Space) -> int:
    return Membership.objects.filter(space=space, role=Role.OWNER).count()


def member_add(*, space: Space, actor_role: str, actor: User, user: User, role: str) -> Membership:
    if space.kind == Space.Kind.PERSONAL:
        raise BadRequest("A personal space has no other members; create a team space to collaborate.")
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise Forbidden("Only an owner can add another owner.")
    if is_blocked_between(actor, user):
        raise NotFound("User not found.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(space=space, user=user, role=role, invited_by=actor)
    except IntegrityError:
        raise Conflict(f"{user.username} is already a member of this space.") from None
    _notify_invite(space=space, user=user, actor=actor)
    return membership


def _notify_invite(*, space: Space, user: User, actor: User) -> None:
    from takos.hooks import member_added

    member_added.send(sender=Membership, space=space, user=user, actor=actor)


def member_change_role(*, space: Space, actor_role: str, membership: Membership, role: str) -> Membership:
    if membership.role == role:
        return membership
    touches_owner = Role.OWNER in (role, membership.role)
    if touches_owner and actor_role != Role.OWNER:
        raise Forbidden("Only an owner can grant or change the owner role.")
    if ROLE_RANK[membership.role] > ROLE_RANK[actor_role]:
        raise Forbidden("You cannot change the role of a member above you.")
    with transaction.atomic():
        if membership.role == Role.OWNER and _owner_count(space) <= 1:
            raise Conflict("A space needs at least one owner.")
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    return membership


def member_remove(*, space: Space, actor: User, actor_role: str, membership: Membership) -> None:
    leaving = membership.user_id == actor.pk
    if not leaving:
        if not ROLE_RANK[actor_role] >= ROLE_RANK[Role.ADMIN]:
            raise Forbidden("Only admins can remove members.")
        if ROLE_RANK[membership.role] > ROLE_RANK[actor_role]:
            raise Forbidden("You cannot remove a member above you.")
    if space.kind == Space.Kind.PERSONAL and membership.user_id == space.owner_id:
        raise BadRequest("The owner cannot leave their personal space.")
    with transaction.atomic():
        if membership.role == Role.OWNER and _owner_count(space) <= 1:
            raise Conflict("A space needs at least one owner; make someone else owner first.")
        membership.delete()


def follow(*, actor: User, target: User) -> str:
    """Follow `target`; a private account gets a request instead. Returns "following" or "requested"."""
    if actor.pk == target.pk:
        raise BadRequest("You cannot follow yourself.")
    if is_blocked_between(actor, target):
        raise Forbidden("You cannot follow this user.")
    if Follow.objects.filter(follower=actor, following=target).exists():
        return "following"
    if target.private_account:
        FollowRequest.objects.update_or_create(
            requester=actor, target=target,
            defaults={"status": FollowRequest.Status.PENDING, "responded_at": None},
        )
        return "requested"
    Follow.objects.get_or_create(follower=actor, following=target)
    return "following"


def unfollow(*, actor: User, target: User) -> None:
    Follow.objects.filter(follower=actor, following=target).delete()
    FollowRequest.objects.filter(requester=actor, target=target, status=FollowRequest.Status.PENDING).delete()


def follow_request_respond(*, target: User, request_id: str, accept: bool) -> FollowRequest:
    with transaction.atomic():
        request = (
            FollowRequest.objects.select_for_update()
            .filter(pk=request_id, target=target, status=FollowRequest.Status.PENDING)
            .first()
        )
        if request is None:
            raise NotFound("Follow request not found.")
        request.status = FollowRequest.Status.ACCEPTED if accept else FollowRequest.Status.REJECTED
        request.responded_at = timezone.now()
        request.save(update_fields=["status", "responded_at", "updated_at"])
        if accept:
            Follow.objects.get_or_create(follower=request.requester, following=target)
    return request


def block(*, actor: User, target: User) -> None:
    if actor.pk == target.pk:
        raise BadRequest("You cannot block yourself.")
    with transaction.atomic():
        Block.objects.get_or_create(blocker=actor, blocked=target)
        # A block ends following in both directions, as on GitHub.
        Follow.objects.filter(follower=actor, following=target).delete()
        Follow.objects.filter(follower=target, following=actor).delete()


def unblock(*, actor: User, target: User) -> None:
    Block.objects.filter(blocker=actor, blocked=target).delete()


def mute(*, actor: User, target: User) -> None:
    if actor.pk == target.pk:
        raise BadRequest("You cannot mute yourself.")
    Mute.objects.get_or_create(muter=actor, muted=target)


def unmute(*, actor: User, target: User) -> None:
    Mute.objects.filter(muter=actor, muted=target).delete()
