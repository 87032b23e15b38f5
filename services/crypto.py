"""App-level encryption for secrets at rest (env values, managed tokens, deployment env snapshots).

Fernet keyed from TAKOS_ENCRYPTION_KEY (or SECRET_KEY when unset), so rotating SECRET_KEY
without setting TAKOS_ENCRYPTION_KEY makes stored secrets unreadable: production sets both.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("takos-secrets:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _key() -> str:
    return getattr(settings, "TAKOS_ENCRYPTION_KEY", "") or settings.SECRET_KEY


def encrypt(value: str) -> str:
    return _fernet(_key()).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


def encrypt_json(value: Any) -> str:
    return encrypt(json.dumps(value, sort_keys=True))


def decrypt_json(token: str, default: Any = None) -> Any:
    raw = decrypt(token)
    return json.loads(raw) if raw else default


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]
