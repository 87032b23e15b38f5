"""DRF authentication: bearer tokens (PAT, service, OAuth) and the browser session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from auth_app import tokens
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

    try:
        # get() rather than first(): no ORDER BY/LIMIT to compile on the hottest query of the API.
        record = model.objects.select_related("user").get(token_hash=tokens.digest(token))
    except model.DoesNotExist:
        return None
    if record.revoked_at is not None:
        return None
    if record.expires_at is not None and record.expires_at <= timezone.now():
        return None
    user = record.user
    if user is not None and not user.is_active:
        return None
    touch_last_used(record)
    return user, TokenAuth(kind=kind, record=record, scopes=record.scope_value)


TOKEN_RESOLVERS[PersonalAccessToken.PREFIX] = lambda t: _resolve_stored(PersonalAccessToken, "pat", t)
TOKEN_RESOLVERS[ServiceToken.PREFIX] = lambda t: _resolve_stored(ServiceToken, "service", t)


def resolve_token(token: str) -> tuple[Any, TokenAuth] | None:
    """Find the user and grant behind a clear-text token, or None if it is not valid."""
    for prefix, resolver in TOKEN_RESOLVERS.items():
        if token.startswith(prefix):
            return resolver(token)
    return None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, TokenAuth] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != "bearer":
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
