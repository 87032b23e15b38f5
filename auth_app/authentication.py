"""DRF authentication: bearer tokens (PAT, service, OAuth) and the browser session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models.base import ModelState
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from auth_app import token_cache, tokens
from auth_app.models import PersonalAccessToken, ServiceToken


@dataclass
class TokenAuth:
    """What `request.auth` holds for a token request."""

    kind: str  # pat | service | oauth
    record: Any
    scopes: list[str] | str
    extra: dict[str, Any] = field(default_factory=dict)


# prefix -> resolver(token) -> (user, TokenAuth) or None. The oauth app adds `tak_oat_`.
TOKEN_RESOLVERS: dict[str, Callable[[str], tuple[Any, TokenAuth] | None]] = {}


def _resolve_stored(model: type[PersonalAccessToken] | type[ServiceToken], kind: str, token: str):
    from auth_app.services import touch_last_used

    digest = tokens.digest(token)
    cache_key = f"{kind}:{digest}"
    cached = token_cache.get(cache_key)
    if cached is not None:
        record, user, owner, gen = cached
        record, user = _private_copies(record, user)
    else:
        # Whose token is it? That owner's generation must be read *before* the row we trust (see
        # token_cache), so a miss costs two small queries; a hit costs none.
        try:
            pk, user_id = model.objects.values_list("pk", "user_id").get(token_hash=digest)
            owner = token_cache.owner_key(user_id, digest)
            gen = token_cache.ensure_generation(owner)
            record = model.objects.select_related("user").get(pk=pk)
        except model.DoesNotExist:
            return None
        user = record.user
    if record.revoked_at is not None:
        return None
    if record.expires_at is not None and record.expires_at <= timezone.now():
        return None
    if user is not None and not user.is_active:
        return None
    stale = record.last_used_at
    touch_last_used(record)
    if cached is None or record.last_used_at != stale:
        shared_record, shared_user = _private_copies(record, user)  # this request keeps its own
        token_cache.put(cache_key, owner, gen, (shared_record, shared_user, owner, gen))
    return user, TokenAuth(kind=kind, record=record, scopes=record.scope_value)


def _private_copies(record: Any, user: Any) -> tuple[Any, Any]:
    """Cached objects are shared by every request of this process: each request gets its own
    copies (a view may change `request.user`; `touch_last_used` changes the record)."""
    record = _clone(record)
    if user is not None:
        user = _clone(user)
        if record.user_id == user.pk:
            record._state.fields_cache["user"] = user
    return record, user


def _clone(obj: Any) -> Any:
    """A shallow copy of a model instance with its own state (what pickling would give, cheaper;
    `copy.copy` of the state went through `__reduce_ex__`, a third of a cached token's resolve)."""
    clone = obj.__class__.__new__(obj.__class__)
    clone.__dict__.update(obj.__dict__)
    state = ModelState.__new__(ModelState)
    state.__dict__.update(obj._state.__dict__)
    state.fields_cache = dict(obj._state.fields_cache)
    clone._state = state
    return clone


TOKEN_RESOLVERS[PersonalAccessToken.PREFIX] = lambda t: _resolve_stored(PersonalAccessToken, "pat", t)
TOKEN_RESOLVERS[ServiceToken.PREFIX] = lambda t: _resolve_stored(ServiceToken, "service", t)


def resolve_token(token: str) -> tuple[Any, TokenAuth] | None:
    """Find the user and grant behind a clear-text token, or None if it is not valid."""
    for prefix, resolver in TOKEN_RESOLVERS.items():
        if token.startswith(prefix):
            return resolver(token)
    return None


async def bearer_user(header: str, scope: str | None) -> tuple[Any, Any] | None:
    """For async endpoints outside DRF (streams): None when `header` is not a bearer token, else
    (user, None) or (None, error response with the envelope: 401 invalid token, 403 missing scope)."""
    from takos.api.errors import error_response
    from takos.api.scopes import grants
    from takos.db.threads import off_loop

    if not header.lower().startswith("bearer "):
        return None
    found = await off_loop(resolve_token)(header.split(None, 1)[1].strip())
    if found is None:
        return None, error_response(401, "The token is invalid, expired or revoked.")
    user, auth = found
    if scope and not grants(getattr(auth, "scopes", "*"), scope):
        return None, error_response(403, f"The token lacks the '{scope}' scope.")
    return user, None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, TokenAuth] | None:
        # META, not DRF's get_authorization_header: that builds `request.headers`, a dict of every
        # header (~8 us, a tenth of a cached-token request's authentication).
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != "bearer":  # blank, or another scheme (Basic...)
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use 'Bearer <token>'.")
        resolved = resolve_token(parts[1])
        if resolved is None:
            raise exceptions.AuthenticationFailed("The token is invalid, expired or revoked.")
        user, auth = resolved
        if user is None:
            # Service principals without an acting user may only call internal endpoints.
            from django.contrib.auth.models import AnonymousUser

            return AnonymousUser(), auth
        return user, auth

    def authenticate_header(self, request: Request) -> str:
        # RFC 9728: point OAuth/MCP clients at the API's protected-resource metadata (oauth app).
        from django.conf import settings

        base = settings.TAKOS_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")
        return f'Bearer realm="takos", resource_metadata="{base}/.well-known/oauth-protected-resource/api"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """Django's session with CSRF enforced on unsafe methods (DRF's standard behaviour)."""
