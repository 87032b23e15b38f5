"""The routing table as dispatch sees it: hostname -> service pointers, cached per process.

Entries are cached for TAKOS_DISPATCH_CACHE_SECONDS and dropped at once when the routing
generation changes. The generation is bumped by the `routes_changed` hook in whichever
process made the change (web, worker or beat): a file under DATA_DIR whose mtime every
process on the machine can stat for a few microseconds, plus a cache key when a shared
cache (Redis) is configured, so dispatch on other machines notices too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Target:
    deployment_id: str
    version: int
    endpoint: str  # "" when the runtime is stopped (dispatch starts it on demand)


@dataclass(frozen=True)
class RouteEntry:
    hostname: str
    service_id: str
    space_id: str
    active: Target | None
    canary: Target | None
    canary_weight: int
    challenge: str = ""  # a pending custom domain: only its verification token is served


def lookup(hostname: str) -> RouteEntry | None:
    """Read one hostname from the database (sync; dispatch calls it off the event loop)."""
    from dispatch.models import Route
    from services.models import Service
    from workers.models import CustomDomain, Deployment

    route = Route.objects.filter(hostname=hostname).values("service_id").first()
    if route is None:
        pending = CustomDomain.objects.filter(domain=hostname).exclude(
            status=CustomDomain.Status.VERIFIED).values("service_id", "service__space_id",
                                                        "verification_token").first()
        if pending is None:
            return None
        return RouteEntry(hostname=hostname, service_id=pending["service_id"], space_id=pending["service__space_id"],
                          active=None, canary=None, canary_weight=0, challenge=pending["verification_token"])
    service = Service.objects.filter(pk=route["service_id"]).values(
        "id", "space_id", "active_deployment_id", "canary_deployment_id", "canary_weight").first()
    if service is None:
        return None
    ids = [i for i in (service["active_deployment_id"], service["canary_deployment_id"]) if i]
    deployments = {d["id"]: d for d in Deployment.objects.filter(pk__in=ids).values("id", "version", "endpoint")}

    def target(deployment_id: str | None) -> Target | None:
        row = deployments.get(deployment_id or "")
        return Target(row["id"], row["version"], row["endpoint"]) if row else None

    canary = target(service["canary_deployment_id"])
    return RouteEntry(hostname=hostname, service_id=service["id"], space_id=service["space_id"],
                      active=target(service["active_deployment_id"]), canary=canary,
                      canary_weight=int(service["canary_weight"]) if canary else 0)


# --- routing generation ----------------------------------------------------------------------

_GEN_KEY = "dispatch:routes:generation"


def _gen_file() -> Path:
    return Path(settings.DATA_DIR) / "dispatch" / "routes.gen"


def bump_generation() -> None:
    path = _gen_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    now = time.time_ns()
    with contextlib.suppress(OSError):
        old = path.stat().st_mtime_ns
        stamp = max(now, old + 1000)
        os.utime(path, ns=(stamp, stamp))
    if getattr(settings, "REDIS_URL", ""):
        from django.core.cache import cache

        try:
            cache.incr(_GEN_KEY)
        except ValueError:
            cache.set(_GEN_KEY, 1, None)


class RouteCache:
    """Per-process cache of RouteEntry (and of misses) keyed by hostname."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[RouteEntry | None, float]] = {}
        self.generation: Any = None
        self._shared_checked = 0.0
        self._shared_gen: Any = None

    def _current_generation(self) -> Any:
        try:
            local = _gen_file().stat().st_mtime_ns
        except OSError:
            local = 0
        if getattr(settings, "REDIS_URL", ""):
            now = time.monotonic()
            if now - self._shared_checked > 0.25:
                self._shared_checked = now
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    self._fetch_shared()  # a sync caller may wait for Redis
                else:
                    # Never on the event loop: a Redis round trip there stalled every stream and
                    # request of the process (and a hung Redis would hang them all). This request
                    # goes on with the last value (same-machine changes are the file's, seen at
                    # once); the next ones see the fetched one.
                    loop.run_in_executor(None, self._fetch_shared)
            return (local, self._shared_gen)
        return local

    def _fetch_shared(self) -> None:
        from django.core.cache import cache

        with contextlib.suppress(Exception):
            self._shared_gen = cache.get(_GEN_KEY)

    def get(self, hostname: str) -> tuple[bool, RouteEntry | None]:
        generation = self._current_generation()
        if generation != self.generation:
            self.entries.clear()
            self.generation = generation
        hit = self.entries.get(hostname)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def put(self, hostname: str, entry: RouteEntry | None) -> None:
        if len(self.entries) > 4096:
            self.entries.clear()
        self.entries[hostname] = (entry, time.monotonic() + settings.TAKOS_DISPATCH_CACHE_SECONDS)

    def drop(self, hostnames: list[str] | None = None) -> None:
        if hostnames is None:
            self.entries.clear()
        for name in hostnames or []:
            self.entries.pop(name, None)


cache = RouteCache()


def on_routes_changed(sender: Any = None, hostnames: list[str] | None = None, **kwargs: Any) -> None:
    """`takos.hooks.routes_changed` receiver: drop local entries and tell the other processes."""
    cache.drop(hostnames)
    bump_generation()
