"""Writes for hosts: proxy tokens, container start/stop with the registry, events."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hosts.drivers import ContainerHandle, ContainerSpec, ContainerStatus, Driver, get_driver
from hosts.models import ContainerRecord, HostEvent, ProxyToken

logger = logging.getLogger("takos.hosts")

# Capability names checked by /internal/ endpoints. Other apps may use their own names
# (e.g. "run-control"); these are the ones hosts itself serves.
CAP_HEARTBEAT = "heartbeat"
CAP_EVENTS = "events"  # /internal/events and /internal/logs
CAP_REPO_READ = "repo:read"
CAP_REPO_WRITE = "repo:write"
CAP_ARTIFACTS = "artifacts"
CAP_EGRESS = "egress"


def _digest(token: str) -> str:
    from auth_app.tokens import digest

    return digest(token)


def issue_proxy_token(*, owner: str, capabilities: list[str], ttl_seconds: int, space: Any = None,
                      user: Any = None, repo_id: str = "") -> str:
    """Mint a proxy token for one container; only its SHA-256 is stored. Returns the clear text."""
    if not owner or ":" not in owner:
        raise ValueError("owner must look like '<kind>:<id>'")
    token = ProxyToken.PREFIX + secrets.token_urlsafe(32)
    ProxyToken.objects.create(
        token_hash=_digest(token), owner=owner, capabilities=sorted(set(capabilities)), space=space, user=user,
        repo_id=repo_id or "", expires_at=timezone.now() + timedelta(seconds=max(1, int(ttl_seconds))),
    )
    return token


def resolve_proxy_token(token: str) -> ProxyToken | None:
    """The live token row for a clear-text token, or None (unknown, expired, revoked)."""
    if not token.startswith(ProxyToken.PREFIX):
        return None
    row = ProxyToken.objects.select_related("user", "space").filter(token_hash=_digest(token)).first()
    if row is None or not row.is_live:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ProxyToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def revoke_proxy_tokens(*, owner: str) -> int:
    return ProxyToken.objects.filter(owner=owner, revoked_at__isnull=True).update(revoked_at=timezone.now())


def purge_expired_proxy_tokens(*, older_than_hours: int = 24) -> int:
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _ = ProxyToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def proxy_env(*, token: str, owner: str) -> dict[str, str]:
    """The environment every container gets to call back into the control plane."""
    return {"TAKOS_PROXY_URL": settings.TAKOS_PROXY_URL, "TAKOS_PROXY_TOKEN": token, "TAKOS_OWNER": owner}


# --- containers ------------------------------------------------------------------------
def container_start(*, spec: ContainerSpec, driver: Driver | None = None) -> ContainerHandle:
    """Start a container and record it (the admin lists records; recovery keeps them in sync)."""
    driver = driver or get_driver()
    handle = driver.start(spec)
    ContainerRecord.objects.update_or_create(
        id=handle.id,
        defaults={"driver": driver.name, "role": spec.role, "owner": spec.owner, "image": spec.image,
                  "state": ContainerRecord.State.RUNNING, "ports": {str(k): v for k, v in handle.ports.items()},
                  "created_at": timezone.now(), "stopped_at": None, "reason": "", "exit_code": None},
    )
    return handle


def container_stop(*, handle: ContainerHandle, driver: Driver | None = None, reason: str = "") -> None:
    """Stop and remove the container; idempotent."""
    driver = driver or get_driver(handle.driver)
    driver.stop(handle)
    ContainerRecord.objects.filter(id=handle.id).update(
        state=ContainerRecord.State.STOPPED, stopped_at=timezone.now(), reason=reason[:300])


def record_status(*, handle: ContainerHandle, status: ContainerStatus) -> None:
    ContainerRecord.objects.filter(id=handle.id).exclude(state=ContainerRecord.State.STOPPED).update(
        state=status.state, exit_code=status.exit_code, reason=(status.reason or "")[:300])


def handle_for_record(record: ContainerRecord) -> ContainerHandle:
    return ContainerHandle(id=record.id, driver=record.driver, owner=record.owner, role=record.role,
                           ports={int(k): v for k, v in (record.ports or {}).items()})


# --- callbacks from containers ---------------------------------------------------------
def host_event_record(*, owner: str, kind: str, type: str = "", data: Any = None) -> HostEvent:
    from hosts.signals import container_event

    event = HostEvent.objects.create(owner=owner, kind=kind, type=type[:80], data=data or {})
    transaction.on_commit(lambda: container_event.send(sender=HostEvent, event=event))
    return event
