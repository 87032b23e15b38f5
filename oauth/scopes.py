"""DOT scopes backend over the single scope catalog in takos/api/scopes.py."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from takos.api.scopes import SCOPES

OIDC_SCOPES = ("openid", "profile", "email")


def describe(scopes: list[str]) -> list[dict[str, str]]:
    return [{"name": s, "description": SCOPES.get(s, s)} for s in scopes]


class TakosScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        return dict(SCOPES)

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        if application is not None and getattr(application, "allowed_scopes", None):
            return [s for s in application.allowed_scopes if s in SCOPES]
        return list(SCOPES)

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        # No scope asked: what the client registered for, else sign-in plus read-only access.
        if application is not None and getattr(application, "allowed_scopes", None):
            return list(application.allowed_scopes)
        return [s for s in SCOPES if s in OIDC_SCOPES or s.endswith(":read")]
