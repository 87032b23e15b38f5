"""Recovery: remove containers nobody owns any more, sync the registry, fail dead sessions.

Each container's owner label is "<kind>:<id>". An owner check answers "is this container
still wanted?"; apps register one per kind (agents: "run", workflows: "job", ...):

    from hosts.recovery import register_owner_check
    register_owner_check("run", lambda run_id, handle: Run.objects.filter(pk=run_id, status="running").exists())

Containers of a kind with no registered check are left alone (only counted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from hosts.drivers import ContainerHandle, DriverError, DriverUnavailable, get_driver
from hosts.models import ContainerRecord

logger = logging.getLogger("takos.hosts.recovery")

OwnerCheck = Callable[[str, ContainerHandle], bool]
_owner_checks: dict[str, OwnerCheck] = {}
START_GRACE_SECONDS = 60


def register_owner_check(kind: str, check: OwnerCheck) -> None:
    _owner_checks[kind] = check


def _session_wanted(session_id: str, handle: ContainerHandle) -> bool:
    from platform_app.models import RuntimeSession

    return RuntimeSession.objects.filter(pk=session_id, status__in=RuntimeSession.LIVE,
                                         container_id=handle.id).exists()


def _browser_wanted(session_id: str, handle: ContainerHandle) -> bool:
    from platform_app.models import BrowserSession

    return BrowserSession.objects.filter(
        pk=session_id, status__in=[BrowserSession.Status.STARTING, BrowserSession.Status.ACTIVE],
        container_id=handle.id).exists()


register_owner_check("session", _session_wanted)
register_owner_check("browser", _browser_wanted)


def recover_containers(*, driver_name: str | None = None) -> dict[str, int]:
    """Stop orphaned containers and sync ContainerRecord rows with what the engine reports."""
    counts = {"seen": 0, "removed": 0, "unknown_kind": 0, "missing": 0}
    import platform_app.session_pool  # noqa: F401  (registers the "pool" owner check)
    try:
        driver = get_driver(driver_name)
    except DriverUnavailable as exc:
        logger.warning("recovery skipped: %s", exc)
        return counts
    seen: set[str] = set()
    for handle in driver.list():
        counts["seen"] += 1
        seen.add(handle.id)
        record = ContainerRecord.objects.filter(id=handle.id).only("created_at").first()
        if record is not None and (timezone.now() - record.created_at).total_seconds() < START_GRACE_SECONDS:
            continue  # just started: its owner row may not name it yet
        kind, _, object_id = handle.owner.partition(":")
        check = _owner_checks.get(kind)
        if check is None:
            counts["unknown_kind"] += 1
            continue
        try:
            wanted = check(object_id, handle)
        except Exception:  # a broken checker must not stop recovery of the others
            logger.exception("owner check for %s failed", handle.owner)
            continue
        if wanted:
            status = driver.status(handle)
            ContainerRecord.objects.update_or_create(
                id=handle.id, defaults={"driver": driver.name, "role": handle.role, "owner": handle.owner,
                                        "state": status.state, "exit_code": status.exit_code,
                                        "reason": (status.reason or "")[:300],
                                        "ports": {str(k): v for k, v in handle.ports.items()}})
            continue
        try:
            driver.stop(handle, timeout=5)
        except DriverError as exc:
            logger.warning("could not remove orphan %s: %s", handle.id, exc)
            continue
        counts["removed"] += 1
        ContainerRecord.objects.filter(id=handle.id).update(
            state=ContainerRecord.State.STOPPED, stopped_at=timezone.now(), reason="orphan removed by recovery")
        logger.info("removed orphan container %s (%s)", handle.id[:12], handle.owner)
    gone = ContainerRecord.objects.filter(driver=driver.name).exclude(
        state__in=[ContainerRecord.State.STOPPED, ContainerRecord.State.MISSING]).exclude(id__in=seen)
    counts["missing"] = gone.update(state=ContainerRecord.State.MISSING, reason="not found by recovery")
    return counts
