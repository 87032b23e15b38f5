"""Warm pool of runtime containers (TAKOS_RUNTIME_WARM_POOL = how many to keep ready).

A pool container is a runtime container already running on an empty workspace folder
(DATA_DIR/pool/<slot>/workspace) with no session. Creating a session then only exports the
repository into that folder and hands the session id and proxy token to the runtime agent
(POST /claim, guarded by a per-container secret), which skips the container start.
The claimed container keeps its `pool:` owner label; its ContainerRecord row is re-owned to
the session, and recovery consults that row (see hosts.recovery).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.db import transaction

from hosts import services as host_services
from hosts.drivers import ContainerHandle, ContainerSpec, DriverError, Mount, get_driver
from hosts.loopback import http
from hosts.models import ContainerRecord
from hosts.recovery import register_owner_check

logger = logging.getLogger("takos.sessions.pool")
RUNTIME_PORT = 8080
_fill_lock = threading.Lock()


def pool_dir() -> Path:
    return Path(settings.DATA_DIR) / "pool"


def _secret_path(slot: str) -> Path:
    return pool_dir() / slot / "secret"


def _start_one() -> ContainerHandle:
    slot = secrets.token_hex(6)
    workspace = pool_dir() / slot / "workspace"
    workspace.mkdir(parents=True)
    secret = secrets.token_urlsafe(24)
    _secret_path(slot).write_text(secret)
    _secret_path(slot).chmod(0o600)
    spec = ContainerSpec(
        role="runtime", image="default", command=["python3", "/opt/takos/runtime_agent.py"], owner=f"pool:{slot}",
        env={"TAKOS_POOL_SECRET": secret, "TAKOS_WORKSPACE": "/workspace",
             "TAKOS_HEARTBEAT_SECONDS": str(settings.TAKOS_SESSION_HEARTBEAT_SECONDS)},
        workdir="/workspace", mounts=[Mount(source=workspace, target="/workspace")], ports=[RUNTIME_PORT],
        memory_mb=settings.TAKOS_SESSION_MEMORY_MB, labels={"takos.pool": slot},
    )
    handle = host_services.container_start(spec=spec)
    # Only a container that answers is "ready": the pool exists to skip this wait.
    deadline = time.monotonic() + settings.TAKOS_CONTAINER_START_TIMEOUT
    url = f"http://127.0.0.1:{handle.ports[RUNTIME_PORT]}/health"
    while True:
        try:
            if http().get(url, timeout=1).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or get_driver(handle.driver).status(handle).state != "running":
            host_services.container_stop(handle=handle, reason="pool container did not start")
            raise DriverError("a pool container did not become healthy")
        time.sleep(0.02)


def available() -> list[ContainerRecord]:
    return list(ContainerRecord.objects.filter(owner__startswith="pool:", role="runtime",
                                               state=ContainerRecord.State.RUNNING,
                                               driver=get_driver().name).order_by("created_at"))


def fill_pool(*, size: int | None = None) -> int:
    """Start containers until `size` (default TAKOS_RUNTIME_WARM_POOL) are ready; returns how many started."""
    target = settings.TAKOS_RUNTIME_WARM_POOL if size is None else size
    started = 0
    if target <= 0 or not _fill_lock.acquire(blocking=False):
        return 0
    try:
        while len(available()) < target:
            try:
                _start_one()
            except DriverError as exc:
                logger.warning("could not fill the warm pool: %s", exc)
                break
            started += 1
    finally:
        _fill_lock.release()
    return started


def refill_soon() -> None:
    """Top the pool up in the background after a claim (never delays the request)."""
    if settings.TAKOS_RUNTIME_WARM_POOL > 0:
        # A short delay keeps the new container's start off the CPU while the claiming
        # request finishes (small hosts have two cores).
        def start() -> None:
            timer = threading.Timer(0.5, fill_pool)
            timer.daemon = True
            timer.start()

        transaction.on_commit(start)


def claim(*, session_id: str, token: str) -> tuple[ContainerHandle, Path] | None:
    """Take a ready pool container for `session_id`; None when the pool is empty."""
    for record in available():
        slot = record.owner.split(":", 1)[1]
        # Compare-and-set on the owner: two requests never get the same container.
        if not ContainerRecord.objects.filter(id=record.id, owner=record.owner).update(owner=f"session:{session_id}"):
            continue
        handle = host_services.handle_for_record(record)
        try:
            secret = _secret_path(slot).read_text()
            response = http().post(
                f"http://127.0.0.1:{handle.ports[RUNTIME_PORT]}/claim", timeout=2,
                headers={"X-Takos-Pool-Secret": secret},
                json={"session_id": session_id, "token": token, "proxy_url": settings.TAKOS_PROXY_URL})
            if response.status_code != 204:
                raise DriverError(f"claim answered {response.status_code}")
        except (OSError, httpx.HTTPError, DriverError) as exc:
            logger.warning("pool container %s unusable: %s", record.id[:12], exc)
            host_services.container_stop(handle=handle, reason="unusable pool container")
            continue
        _secret_path(slot).unlink(missing_ok=True)
        return handle, pool_dir() / slot / "workspace"
    return None


def _pool_wanted(slot: str, handle: ContainerHandle) -> bool:
    """Recovery: an unclaimed pool container is wanted; a claimed one if its session is live."""
    from platform_app.models import RuntimeSession

    record = ContainerRecord.objects.filter(id=handle.id).first()
    if record is None:
        return False
    if record.owner.startswith("pool:"):
        return True
    kind, _, session_id = record.owner.partition(":")
    return kind == "session" and RuntimeSession.objects.filter(
        pk=session_id, status__in=RuntimeSession.LIVE, container_id=handle.id).exists()


def drain_pool() -> int:
    """Stop every unclaimed pool container (tests, shutdown)."""
    count = 0
    for record in available():
        host_services.container_stop(handle=host_services.handle_for_record(record), reason="pool drained")
        shutil.rmtree(pool_dir() / record.owner.split(":", 1)[1], ignore_errors=True)
        count += 1
    return count


register_owner_check("pool", _pool_wanted)
