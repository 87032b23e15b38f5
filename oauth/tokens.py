"""Opaque token formats: `tak_oat_` access tokens and `tak_ort_` refresh tokens."""

from __future__ import annotations

import secrets
from typing import Any

ACCESS_PREFIX = "tak_oat_"
REFRESH_PREFIX = "tak_ort_"


def access_token_generator(request: Any, refresh_token: bool = False) -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def refresh_token_generator(request: Any, refresh_token: bool = False) -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)
