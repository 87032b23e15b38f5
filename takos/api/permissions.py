"""DRF permissions shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from takos.api.scopes import grants


def token_scopes(request: Request) -> list[str] | str:
    """Scopes of the token that authenticated the request; a browser session has all."""
    return getattr(request.auth, "scopes", "*") if request.auth is not None else "*"


class TokenScope(BasePermission):
    """Check the view's `scope` against the token: `<scope>:read` for safe methods, else `:write`.

    Views may set `required_scopes = {"POST": "agents:execute"}` for exceptions.
    """

    message = "The token does not have the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = needed_scope(request, view)
        if needed is None:
            return True
        ok = grants(token_scopes(request), needed)
        if not ok:
            self.message = f"The token lacks the '{needed}' scope."
        return ok


def needed_scope(request: Request, view: Any) -> str | None:
    explicit = getattr(view, "required_scopes", {}) or {}
    if request.method in explicit:
        return explicit[request.method]
    scope = getattr(view, "scope", None)
    if not scope:
        return None
    return f"{scope}:read" if request.method in SAFE_METHODS else f"{scope}:write"


class NotDelegatedToken(BasePermission):
    """Account management (tokens, username, settings) is for the person: session, PAT or service
    token — never an OAuth client acting for them, whatever scopes it holds."""

    message = "OAuth access tokens cannot manage the account; sign in or use a personal access token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return getattr(request.auth, "kind", None) != "oauth"
