"""Celery tasks for hosts: recovery, the session reaper, egress fetches."""

from __future__ import annotations

import base64
import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger("takos.hosts")


@shared_task(name="hosts.recover_containers", acks_late=True, max_retries=0, soft_time_limit=120)
def recover_containers_task(**kwargs: Any) -> dict[str, int]:
    from hosts.recovery import recover_containers
    from platform_app.browser_services import reap_browser_sessions
    from platform_app.session_services import reap_sessions

    counts = recover_containers()
    # Sessions whose container died are failed with the reason (exit code, OOM).
    counts.update({f"sessions_{k}": v for k, v in reap_sessions().items()})
    counts["browsers_closed"] = reap_browser_sessions()
    return counts


@shared_task(name="hosts.reap_sessions", acks_late=True, max_retries=0, soft_time_limit=120)
def reap_sessions_task(**kwargs: Any) -> dict[str, int]:
    from platform_app.browser_services import reap_browser_sessions
    from platform_app.session_services import reap_sessions

    counts = reap_sessions()
    counts["browsers_closed"] = reap_browser_sessions()
    return counts


@shared_task(name="hosts.purge_proxy_tokens", acks_late=True, max_retries=0)
def purge_proxy_tokens_task(**kwargs: Any) -> int:
    from hosts.services import purge_expired_proxy_tokens

    return purge_expired_proxy_tokens()


@shared_task(name="hosts.egress.fetch", acks_late=False, max_retries=0, time_limit=330)
def egress_fetch_task(*, method: str, url: str, headers: dict[str, str] | None = None, body_base64: str = "",
                     **kwargs: Any) -> dict[str, Any]:
    """Egress through the `egress` queue (for workers that should not make the call themselves)."""
    from hosts import egress

    try:
        return egress.fetch(method=method, url=url, headers=headers, body=base64.b64decode(body_base64)).as_json()
    except egress.EgressRefused as exc:
        return {"error": str(exc), "refused": True}


@worker_ready.connect
def _recover_on_worker_start(sender: Any = None, **kwargs: Any) -> None:
    # On start, right away: containers of a crashed worker are found before the first beat tick.
    try:
        recover_containers_task.delay()
    except Exception:
        logger.exception("could not enqueue recovery on worker start")
