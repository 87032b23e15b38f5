"""Authentication and permission for `/internal/...`: the container proxy contract.

A container calls back with `Authorization: Bearer tak_pxy_...` (from $TAKOS_PROXY_TOKEN).
`ProxyTokenAuthentication` resolves it to `request.auth = ProxyGrant(...)` and
`request.user` = the token's user (or AnonymousUser). `HasCapability` checks the view's
`required_capability` (or `required_capabilities = {"GET": ..., "POST": ...}`).
Views then call `grant.require_owner("session", id)`, which answers 404 (never 403) when
the token belongs to another session or run, so ids do not leak.

Other apps add their internal endpoints by subclassing `InternalApiView` and registering
their URL patterns in their AppConfig.ready():

    from hosts.internal import register_internal_urls
    register_internal_urls([path("runs/<str:run_id>/events", RunEventView.as_view())])

They are then served under `/internal/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from takos.api.errors import NotFound
from takos.api.views import ApiView

_extra_urlpatterns: list[Any] = []


def register_internal_urls(patterns: list[Any]) -> None:
    """Add URL patterns served under /internal/ (call from AppConfig.ready())."""
    _extra_urlpatterns.extend(patterns)


def extra_internal_urls() -> list[Any]:
    return list(_extra_urlpatterns)


@dataclass
class ProxyGrant:
    """`request.auth` for internal requests."""

    token_id: str
    owner: str  # "<kind>:<id>"
    capabilities: list[str]
    space_id: str | None
    user_id: str | None
    repo_id: str
    scopes: str = "*"  # so TokenScope-style checks elsewhere see an unrestricted value

    @property
    def owner_kind(self) -> str:
        return self.owner.split(":", 1)[0]

    @property
    def owner_id(self) -> str:
        return self.owner.split(":", 1)[1]

    def owns(self, kind: str, object_id: str) -> bool:
        return self.owner == f"{kind}:{object_id}"

    def require_owner(self, kind: str, object_id: str) -> None:
        if not self.owns(kind, object_id):
            raise NotFound(f"No {kind} {object_id} for this token.")

    def has(self, capability: str) -> bool:
        return capability in self.capabilities or "*" in self.capabilities


class ProxyTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ProxyGrant] | None:
        from hosts.services import resolve_proxy_token

        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != "bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use 'Bearer <token>'.")
        row = resolve_proxy_token(header[1])
        if row is None:
            raise exceptions.AuthenticationFailed("The proxy token is invalid, expired or revoked.")
        grant = ProxyGrant(token_id=row.id, owner=row.owner, capabilities=list(row.capabilities),
                           space_id=row.space_id, user_id=row.user_id, repo_id=row.repo_id)
        user = row.user if row.user is not None and row.user.is_active else AnonymousUser()
        return user, grant

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="takos-internal"'


class HasCapability(BasePermission):
    message = "The proxy token does not carry the capability this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        grant = request.auth
        if not isinstance(grant, ProxyGrant):
            raise exceptions.NotAuthenticated("A proxy token is required.")
        needed = (getattr(view, "required_capabilities", None) or {}).get(request.method) or getattr(
            view, "required_capability", None)
        if needed is None:
            return True
        if not grant.has(needed):
            self.message = f"The proxy token lacks the '{needed}' capability."
            return False
        return True


class InternalApiView(ApiView):
    """Base for /internal/ endpoints: proxy-token authentication, capability check."""

    authentication_classes = [ProxyTokenAuthentication]
    permission_classes = [HasCapability]
    required_capability: str | None = None

    @property
    def grant(self) -> ProxyGrant:
        return self.request.auth  # type: ignore[return-value]
