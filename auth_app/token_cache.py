"""Cache of resolved bearer tokens: the token lookup was the largest cost of every API call.

An entry (token record + user) is only trusted while the owner's *generation* is the one it
was stored under. Anything that can change what a token means (revoke, expiry change,
deactivation, any save of the user) bumps the generation, so the next request misses and
reads the database again. The generation is read *before* the database on a miss, so a
write that lands while a request is resolving can never be cached as current.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from takos.redis_mirror import KeyMirror

logger = logging.getLogger("takos.auth")

GEN_TIMEOUT = 24 * 3600


def _ttl() -> int:
    return int(getattr(settings, "TAKOS_TOKEN_CACHE_SECONDS", 60))


def _entry_key(digest: str) -> str:
    return f"tok:e:{digest}"


def _gen_key(owner: str) -> str:
    return f"tok:g:{owner}"


def owner_key(user_id: object | None, digest: str) -> str:
    """Tokens with a user share the user's generation; user-less service tokens have their own."""
    return f"u:{user_id}" if user_id is not None else f"t:{digest}"


def _mirror() -> KeyMirror | None:
    """With Redis: this process's copy of the generations, which Redis itself keeps current
    (takos.redis_mirror), so a cache hit asks Redis nothing. TAKOS_TOKEN_MIRROR=0 turns it off."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != "takos.cache.RedisCache" or not getattr(settings, "TAKOS_TOKEN_MIRROR", True):
        return None
    url = config["LOCATION"]
    mirror = _mirrors.get(url)
    if mirror is None:
        mirror = _mirrors.setdefault(url, KeyMirror(url, cache.make_key(_gen_key(""))))
    return mirror


_mirrors: dict[str, KeyMirror] = {}


def current_generation(owner: str) -> str | None:
    try:
        mirror = _mirror()
        if mirror is None:
            return cache.get(_gen_key(owner))
        return mirror.get(cache.make_key(_gen_key(owner)), lambda: cache.get(_gen_key(owner)))
    except Exception:  # a cache outage must not take the API down: fall back to the database
        logger.warning("token cache unavailable", exc_info=True)
        return None


def ensure_generation(owner: str) -> str | None:
    gen = current_generation(owner)
    if gen is not None:
        return gen
    try:
        cache.add(_gen_key(owner), secrets.token_hex(8), GEN_TIMEOUT)
        return cache.get(_gen_key(owner))
    except Exception:
        return None


# This process's copy of recent entries, so a hit skips unpickling the token and user; the
# generation is still checked on every hit (in Redis, or in the process's mirror of it that Redis
# keeps current), so invalidation stays immediate.
_near: dict[str, tuple[str, str, Any, float]] = {}
NEAR_MAX = 10_000


def get(digest: str) -> Any | None:
    """The cached value, or None. The value is shared with later hits: callers copy what they change."""
    ttl = _ttl()
    if ttl <= 0:
        return None
    near = _near.get(digest)
    if near is not None and near[3] > time.monotonic():
        owner, gen, value, _ = near
        if current_generation(owner) == gen:
            return value
        _near.pop(digest, None)
    try:
        entry = cache.get(_entry_key(digest))
    except Exception:
        return None
    if entry is None:
        return None
    owner, gen, value = entry
    if gen is None or current_generation(owner) != gen:
        return None
    _remember(digest, owner, gen, value, ttl)
    return value


def _remember(digest: str, owner: str, gen: str, value: Any, ttl: int) -> None:
    if len(_near) >= NEAR_MAX:
        _near.clear()
    _near[digest] = (owner, gen, value, time.monotonic() + ttl)


def put(digest: str, owner: str, gen: str | None, value: Any) -> None:
    if gen is None or _ttl() <= 0:
        return
    try:
        cache.set(_entry_key(digest), (owner, gen, value), _ttl())
        _remember(digest, owner, gen, value, _ttl())
    except Exception:
        logger.warning("token cache unavailable", exc_info=True)


def _bump(owner: str) -> None:
    try:
        cache.set(_gen_key(owner), secrets.token_hex(8), GEN_TIMEOUT)
        mirror = _mirror()
        if mirror is not None:  # other processes hear of it from Redis; this one must not wait
            mirror.forget(cache.make_key(_gen_key(owner)))
    except Exception:
        logger.warning("token cache unavailable; cached tokens expire within %s s", _ttl(), exc_info=True)


def invalidate(owner: str) -> None:
    """Forget every cached token of this owner, now and again when the transaction commits."""
    _bump(owner)
    transaction.on_commit(lambda: _bump(owner))


def invalidate_user(user_id: object) -> None:
    invalidate(owner_key(user_id, ""))
