"""Users, spaces, memberships and the social graph (the Accounts schema group)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from accounts.querysets import SpaceQuerySet
from takos.api.ids import new_id
from takos.models import TimestampedModel

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Use 1-39 lowercase letters, digits or hyphens, not starting or ending with a hyphen.",
)


class TakosUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> User:
        return self.get(username__iexact=username)

    def _create_user(self, username, email, password, **extra_fields):  # type: ignore[no-untyped-def]
        # `createsuperuser` and scripts come through here: give them their personal space too.
        from accounts.services import ensure_personal_space

        user = super()._create_user(username, (email or "").lower(), password, **extra_fields)
        ensure_personal_space(user)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Their personal space is created with them (slug = username)."""

    class ActivityVisibility(models.TextChoices):
        PUBLIC = "public"
        FOLLOWERS = "followers"
        PRIVATE = "private"

    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)
    username = models.CharField(max_length=39, unique=True, validators=[slug_validator])
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=120, blank=True)
    picture = models.URLField(max_length=500, blank=True)
    bio = models.TextField(blank=True)
    private_account = models.BooleanField(default=False)
    activity_visibility = models.CharField(
        max_length=10, choices=ActivityVisibility.choices, default=ActivityVisibility.PUBLIC
    )
    setup_completed = models.BooleanField(default=False)
    auto_update_enabled = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TakosUserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.username

    @property
    def name(self) -> str:
        return self.display_name or self.username


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


ROLE_RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.EDITOR: 2, Role.VIEWER: 1}


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]


class Space(TimestampedModel):
    """A space owns repositories, threads, services... Personal (one per user) or team."""

    class Kind(models.TextChoices):
        PERSONAL = "personal"
        TEAM = "team"

    class SecurityPosture(models.TextChoices):
        STANDARD = "standard"
        RESTRICTED_EGRESS = "restricted_egress"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEAM)
    slug = models.CharField(max_length=39, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    picture = models.URLField(max_length=500, blank=True)
    ai_model = models.CharField(max_length=100, default="gpt-5.4-nano")
    ai_provider = models.CharField(max_length=50, default="openai")
    security_posture = models.CharField(
        max_length=20, choices=SecurityPosture.choices, default=SecurityPosture.STANDARD
    )
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="owned_spaces")
    members = models.ManyToManyField(User, through="Membership", through_fields=("space", "user"), related_name="spaces")

    objects = SpaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(kind="personal"), name="accounts_one_personal_space"
            )
        ]

    def __str__(self) -> str:
        return self.slug


class Membership(TimestampedModel):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="accounts_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.space_id}:{self.role}"


class _Edge(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Follow(_Edge):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_edges")
    following = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_edges")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["follower", "following"], name="accounts_follow_unique")]

    def __str__(self) -> str:
        return f"{self.follower_id} -> {self.following_id}"


class FollowRequest(TimestampedModel):
    """A request to follow a private account; accepted requests become a Follow."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    requester = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sent_follow_requests")
    target = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follow_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["requester", "target"], name="accounts_follow_request_unique")]

    def __str__(self) -> str:
        return f"{self.requester_id} -> {self.target_id} ({self.status})"


class Block(_Edge):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocking_edges")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by_edges")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="accounts_block_unique")]

    def __str__(self) -> str:
        return f"{self.blocker_id} -> {self.blocked_id}"


class Mute(_Edge):
    muter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="muting_edges")
    muted = models.ForeignKey(User, on_delete=models.CASCADE, related_name="muted_by_edges")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["muter", "muted"], name="accounts_mute_unique")]

    def __str__(self) -> str:
        return f"{self.muter_id} -> {self.muted_id}"
