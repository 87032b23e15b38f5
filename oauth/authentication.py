"""`tak_oat_` access tokens on the Takos API (registered in auth_app's TOKEN_RESOLVERS)."""

from __future__ import annotations

import hashlib
from typing import Any

from oauth2_provider.models import get_access_token_model

from auth_app.authentication import TokenAuth
from oauth import conf


def resolve_oauth_token(token: str) -> tuple[Any, TokenAuth] | None:
    """The user and grant behind an OAuth access token, or None (the API answers 401).

    Refused: unknown, expired or revoked tokens (revocation deletes the row), tokens of a
    suspended client or an inactive user, ownerless tokens, and tokens whose RFC 8707
    audience is not the Takos API.
    """
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    record = (
        get_access_token_model()
        .objects.select_related("application", "user")
        .filter(token_checksum=checksum)
        .first()
    )
    if record is None or record.is_expired() or record.user is None or not record.user.is_active:
        return None
    if record.application is not None and record.application.status != record.application.Status.ACTIVE:
        return None
    if not any(conf.is_api_resource(r) for r in (record.resource or [])):
        return None
    return record.user, TokenAuth(
        kind="oauth",
        record=record,
        scopes=record.scope.split(),
        extra={"client_id": record.application.client_id if record.application else None},
    )
