"""Writes for dispatch: keep the routing table in step with services and verified custom domains."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from dispatch.models import DeploymentMetric, Route


def sync_service_routes(service: Any, *, also_changed: list[str] | None = None) -> list[str]:
    """Make the Route rows of `service` match its hostname and verified domains; announce the change.

    Called inside the caller's transaction; the `routes_changed` hook fires on commit.
    """
    from services.services import routes_changed_on_commit
    from workers.models import CustomDomain

    wanted = {service.hostname: Route.Kind.TENANT}
    for domain in CustomDomain.objects.filter(service=service, status=CustomDomain.Status.VERIFIED):
        wanted[domain.domain] = Route.Kind.CUSTOM_DOMAIN
    current = dict(Route.objects.filter(service=service).values_list("hostname", "kind"))
    stale = [h for h in current if h not in wanted]
    Route.objects.filter(service=service, hostname__in=stale).delete()
    for hostname, kind in wanted.items():
        if current.get(hostname) != kind:
            Route.objects.update_or_create(hostname=hostname, defaults={"service": service, "kind": kind})
    changed = sorted({*wanted, *stale, *(also_changed or [])})
    routes_changed_on_commit(changed)
    return changed


def announce_service(service: Any) -> None:
    """Deployment pointers of `service` changed: drop cached routes for its hostnames on commit."""
    from services.services import routes_changed_on_commit

    routes_changed_on_commit(list(Route.objects.filter(service=service).values_list("hostname", flat=True))
                             or [service.hostname])


def record_metrics(rows: dict[tuple[str, Any], list[float]]) -> None:
    """Add flushed counters: {(deployment_id, bucket): [requests, errors, latency_sum, latency_max]}."""
    from django.db.models import F
    from django.db.models.functions import Greatest
    from django.utils import timezone

    from workers.models import Deployment

    last_seen: dict[str, Any] = {}
    with transaction.atomic():
        for (deployment_id, bucket), (requests, errors, latency_sum, latency_max) in rows.items():
            updated = DeploymentMetric.objects.filter(deployment_id=deployment_id, bucket=bucket).update(
                requests=F("requests") + int(requests), errors=F("errors") + int(errors),
                latency_ms_sum=F("latency_ms_sum") + latency_sum,
                latency_ms_max=Greatest(F("latency_ms_max"), latency_max))
            if not updated and Deployment.objects.filter(pk=deployment_id).exists():
                DeploymentMetric.objects.create(deployment_id=deployment_id, bucket=bucket, requests=int(requests),
                                                errors=int(errors), latency_ms_sum=latency_sum,
                                                latency_ms_max=latency_max)
            last_seen[deployment_id] = timezone.now()
        for deployment_id, seen in last_seen.items():
            Deployment.objects.filter(pk=deployment_id).update(last_request_at=seen)
