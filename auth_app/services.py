"""Writes for auth: tokens, sign-up, login throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create
from auth_app import token_cache, tokens
from auth_app.models import PersonalAccessToken, ServiceToken
from takos.api.errors import BadRequest, Forbidden, NotFound, RateLimited
from takos.api.scopes import ALL, normalize_scopes

# Touching last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    record: PersonalAccessToken | ServiceToken
    token: str


def pat_create(
    *, user: User, name: str, scopes: object = ALL, expires_at: datetime | None = None,
    creator_scopes: list[str] | str = ALL,
) -> IssuedToken:
    """Issue a PAT. `creator_scopes` are those of the token making the request: a token can only
    mint tokens with a subset of its own scopes (a read-only token cannot mint a full one)."""
    name = (name or "").strip()
    if not name:
        raise BadRequest("name: This field is required.", details={"fields": {"name": ["This field is required."]}})
    if expires_at is not None and expires_at <= timezone.now():
        raise BadRequest("expiresAt must be in the future.", details={"fields": {"expiresAt": ["Must be in the future."]}})
    scope_value = normalize_scopes(scopes)
    if creator_scopes != ALL and (scope_value == ALL or not set(scope_value) <= set(creator_scopes)):
        raise Forbidden("A token can only create tokens with a subset of its own scopes.")
    clear = tokens.generate(PersonalAccessToken.PREFIX)
    record = PersonalAccessToken.objects.create(
        user=user,
        name=name[:100],
        token_hash=tokens.digest(clear),
        token_prefix=tokens.display_prefix(clear),
        scopes=[ALL] if scope_value == ALL else scope_value,
        expires_at=expires_at,
    )
    return IssuedToken(record=record, token=clear)


def pat_revoke(*, user: User, token_id: str) -> None:
    updated = PersonalAccessToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise NotFound("Token not found.")
    token_cache.invalidate_user(user.pk)


def revoke_all_tokens_for_user(*, user: User) -> int:
    from django.contrib.sessions.models import Session

    now = timezone.now()
    count = PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    ServiceToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    token_cache.invalidate_user(user.pk)
    # End browser sessions too: decode is cheap and this is an operator action.
    for session in Session.objects.filter(expire_date__gt=now).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
    return count


def service_token_create(*, service_name: str, scopes: object = ALL, user: User | None = None,
                         expires_at: datetime | None = None) -> IssuedToken:
    scope_value = normalize_scopes(scopes)
    clear = tokens.generate(ServiceToken.PREFIX)
    record = ServiceToken.objects.create(
        service_name=service_name,
        token_hash=tokens.digest(clear),
        token_prefix=tokens.display_prefix(clear),
        scopes=[ALL] if scope_value == ALL else scope_value,
        user=user,
        expires_at=expires_at,
    )
    return IssuedToken(record=record, token=clear)


def touch_last_used(record: PersonalAccessToken | ServiceToken) -> None:
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        type(record).objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now


# --- sign-up and login ---------------------------------------------------------------

def signup(*, username: str, email: str, password: str) -> User:
    if settings.TAKOS_REGISTRATION == "closed" and User.objects.exists():
        raise Forbidden("Registration is closed on this Takos; ask an operator for an account.")
    if not password:
        raise BadRequest("password: This field is required.", details={"fields": {"password": ["This field is required."]}})
    return user_create(username=username, email=email, password=password)


def _throttle_key(login: str, ip: str) -> str:
    return f"login-fail:{(login or '').lower()}:{ip}"


def check_login(*, login: str, password: str, ip: str) -> User | None:
    """Authenticate by username or email; None on wrong credentials. Throttled per login+IP."""
    key = _throttle_key(login, ip)
    failures = cache.get(key, 0)
    if failures >= settings.TAKOS_LOGIN_MAX_FAILURES:
        raise RateLimited(
            "Too many failed sign-in attempts; try again later.", retry_after=settings.TAKOS_LOGIN_LOCKOUT_SECONDS
        )
    login = (login or "").strip()
    username = login
    if "@" in login:
        match = User.objects.filter(email__iexact=login).values_list("username", flat=True).first()
        username = match or login
    user = authenticate(username=username.lower(), password=password or "")
    if user is None:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.TAKOS_LOGIN_LOCKOUT_SECONDS)
        return None
    cache.delete(key)
    return user
