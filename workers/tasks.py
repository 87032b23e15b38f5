"""Celery tasks on the `deployment` queue: take ids, safe to run twice (lease / compare-and-set)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger("takos.workers")


@shared_task(name="workers.execute_deployment", acks_late=True, max_retries=2, soft_time_limit=900,
             time_limit=960)
def execute_deployment(deployment_id: str, **kwargs: Any) -> str:
    from workers.services import execute_deployment as run

    return run(deployment_id)


@shared_task(name="workers.advance_rollouts", acks_late=True, max_retries=0, soft_time_limit=120)
def advance_rollouts(**kwargs: Any) -> dict[str, str]:
    """Beat: judge and advance every canary step whose interval has passed."""
    from workers.services import due_rollouts, rollout_tick

    results = {}
    for rollout_id in due_rollouts():
        try:
            results[rollout_id] = rollout_tick(rollout_id)
        except Exception:  # one broken rollout must not stop the others
            logger.exception("rollout %s tick failed", rollout_id)
            results[rollout_id] = "error"
    return results


@shared_task(name="workers.recover_deployments", acks_late=True, max_retries=0, soft_time_limit=120)
def recover_deployments(**kwargs: Any) -> int:
    from workers.services import recover_deployments as recover

    return recover()


@shared_task(name="workers.reap_idle_runtimes", acks_late=True, max_retries=0, soft_time_limit=300)
def reap_idle_runtimes(**kwargs: Any) -> int:
    from workers.services import reap_idle_runtimes as reap

    return reap()


@shared_task(name="workers.trim_runtimes", acks_late=True, max_retries=1, soft_time_limit=300)
def trim_runtimes(service_id: str, **kwargs: Any) -> int:
    from workers.services import trim_runtimes as trim

    return trim(service_id)


@shared_task(name="workers.stop_deployment_runtime", acks_late=True, max_retries=1, soft_time_limit=120)
def stop_deployment_runtime(deployment_id: str, **kwargs: Any) -> bool:
    from workers.models import Deployment
    from workers.runtime import stop_runtime

    deployment = Deployment.objects.select_related("service").filter(pk=deployment_id).first()
    if deployment is None or not deployment.container_id:
        return False
    service = deployment.service
    if deployment.pk in (service.active_deployment_id, service.canary_deployment_id, service.fallback_deployment_id):
        return False  # serving again (e.g. rolled back to) since the stop was queued
    stop_runtime(deployment, reason="rolled back")
    return True


@shared_task(name="workers.recheck_domains", acks_late=True, max_retries=0, soft_time_limit=600)
def recheck_domains(**kwargs: Any) -> int:
    """Beat: re-verify pending domains and verified ones (DNS may have moved away)."""
    from workers.domains import domain_verify
    from workers.models import CustomDomain

    count = 0
    for domain in CustomDomain.objects.exclude(status=CustomDomain.Status.FAILED).select_related("service")[:200]:
        try:
            domain_verify(domain=domain)
        except Exception:
            logger.exception("re-checking %s failed", domain.domain)
        count += 1
    return count
