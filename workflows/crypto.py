"""Encryption of workflow secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from settings.TAKOS_ENCRYPTION_KEY (any string; production should set it, ideally
from a file via TAKOS_ENCRYPTION_KEY_FILE) and falls back to SECRET_KEY. Either is stretched
to a Fernet key with SHA-256 under a fixed label, so the same input always gives the same key.
Changing the key makes existing secrets unreadable (they must be set again).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretDecryptError(Exception):
    pass


def _fernet() -> Fernet:
    material = getattr(settings, "TAKOS_ENCRYPTION_KEY", "") or settings.SECRET_KEY
    digest = hashlib.sha256(b"takos-workflow-secrets\0" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptError("the secret cannot be decrypted with the configured key") from exc
