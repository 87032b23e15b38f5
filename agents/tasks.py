"""Celery tasks for runs (queue `run`): execute under a lease, and the recovery cron.

`execute_run` is safe to deliver twice: the claim is a compare-and-set on a queued run
without a lease, so a second delivery finds nothing to do. The task supervises the executor
container, renews the lease, and stops the container when the run is cancelled.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents import services
from agents.models import Run, ToolOperation
from takos import queue
from takos.db.sql import column, fetch_one, table

logger = logging.getLogger("takos.agents")

POLL_SECONDS = 0.1
MAX_INFRA_RETRIES = 3


@shared_task(name="agents.execute_run", bind=True, acks_late=True, max_retries=MAX_INFRA_RETRIES,
             soft_time_limit=None, ignore_result=True)
def execute_run(self: Any, *, run_id: str, **unknown: Any) -> str:
    if unknown:
        logger.info("execute_run ignores unknown kwargs %s", sorted(unknown))
    # The claim's commit sends the `started` wake-up before returning (takos.layer), so watchers
    # see the start before the executor's boot competes with it for the CPU.
    lease = claim(run_id)
    if lease is None:
        return "not-claimed"
    try:
        return supervise(run_id=run_id, lease=lease)
    except Exception as exc:  # infrastructure (driver, token) failed before the loop could run
        logger.exception("run %s: executor infrastructure failed", run_id)
        if self.request.retries < MAX_INFRA_RETRIES:
            reset = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, service_id=lease[0],
                                       lease_version=lease[1]).update(status=Run.Status.QUEUED, service_id=None)
            if reset:
                raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
            return "lost"
        run = Run.objects.get(pk=run_id)
        services.run_fail(run=run, error=f"Executor could not start: {exc}", lease=lease)
        dead_letter(queue="run", body={"run_id": run_id}, error=str(exc), retries=self.request.retries)
        return "failed"


def claim(run_id: str) -> tuple[str, int] | None:
    """The run's lease, waiting up to TAKOS_RUN_VISIBLE_SECONDS for a run that is not visible yet:
    a new run's task is sent before its creating transaction commits (services.run_create,
    agents/api/run_start_asgi.py). A run that never appears (the create rolled back) is not
    claimed; a create that rolled back or was refused says so, and the wait ends at once."""
    # On SQLite a claim that meets the creating transaction waits for its lock in SQLite's busy
    # handler, which sleeps 1, 2, 5 ms... between tries; a read never waits for a writer (WAL), so
    # there the row is awaited by reading and claimed once it is visible.
    if connection.vendor == "sqlite":
        if _visible(run_id):  # then claimed now, or not claimable (ended, or another delivery has it)
            return services.run_claim(run_id=run_id)
    else:
        lease = services.run_claim(run_id=run_id)
        if lease is not None:
            return lease
    began = time.monotonic()
    deadline = began + settings.TAKOS_RUN_VISIBLE_SECONDS
    ask_at = began + 0.001  # Redis is asked about abandonment once a millisecond, the row more often
    while True:
        # A create commits within milliseconds of its task: poll closely at first, then back off.
        waited = time.monotonic() - began
        time.sleep(0.0001 if waited < 0.01 else 0.0005 if waited < 0.05 else 0.005)
        if _visible(run_id):
            # Visible now (its create committed since the first try), or it was there all along
            # and is not claimable (ended, or another delivery has it): then this is None too.
            return services.run_claim(run_id=run_id)
        if time.monotonic() >= ask_at:
            if queue.abandoned(run_id):  # its create rolled back or was refused, and said so
                logger.info("run %s: its create rolled back or was refused", run_id)
                return None
            ask_at = time.monotonic() + 0.001
        if time.monotonic() >= deadline:
            logger.warning("run %s: no such run after %s s (its create rolled back)", run_id,
                           settings.TAKOS_RUN_VISIBLE_SECONDS)
            return None


def _visible(run_id: str) -> bool:
    return fetch_one(_visible_sql(), [run_id]) is not None


@functools.cache
def _visible_sql() -> str:
    return f"SELECT 1 FROM {table(Run)} WHERE {column(Run, 'id')} = %s"


def supervise(*, run_id: str, lease: tuple[str, int]) -> str:
    """Start the executor and watch it until it exits, the run is cancelled, or the lease is lost."""
    from hosts.drivers import ContainerSpec, get_driver
    from hosts.services import (
        container_start,
        container_stop,
        issue_proxy_token,
        proxy_env,
        revoke_proxy_tokens,
    )

    run = Run.objects.select_related("space", "requester").get(pk=run_id)
    owner = f"run:{run_id}"
    driver = get_driver()
    token = issue_proxy_token(owner=owner, capabilities=["run-control"], space=run.space, user=run.requester,
                              ttl_seconds=settings.TAKOS_RUN_LEASE_SECONDS + 24 * 3600)
    env = {**proxy_env(token=token, owner=owner), "TAKOS_RUN_ID": run_id, "TAKOS_LEASE_VERSION": str(lease[1])}
    spec = ContainerSpec(role="executor", image="executor", command=["python3", "-m", "agents.executor"],
                         owner=owner, env=env, labels={"takos.run": run_id}, mounts=executor_mounts())
    if driver.name == "local":
        env["PYTHONPATH"] = str(settings.BASE_DIR)
    handle = container_start(spec=spec, driver=driver)
    outcome = "exited"
    try:
        last_beat = time.monotonic()
        while True:
            state = driver.status(handle)
            if state.state in ("exited", "missing"):
                break
            if time.monotonic() - last_beat >= settings.TAKOS_RUN_HEARTBEAT_SECONDS:
                if not services.run_heartbeat(run_id=run_id, lease=lease):
                    outcome = "lease-lost"
                    break
                last_beat = time.monotonic()
            current = Run.objects.filter(pk=run_id).values_list("status", "lease_version").first()
            if current is None or current[0] != Run.Status.RUNNING or current[1] != lease[1]:
                outcome = "stopped"  # cancelled, or ended by the loop just now
                break
            time.sleep(POLL_SECONDS)
        if outcome != "exited":
            # Cooperative first: the executor's next call answers 409 and it exits by itself.
            driver.wait(handle, timeout=0.3)
        state = driver.status(handle)
        logs = driver.logs(handle)[-4000:].decode(errors="replace") if state.state == "exited" else ""
    finally:
        if outcome != "exited":
            # Cancelled or lost: the cooperative stop had its chance above; kill without the usual grace.
            driver.stop(handle, timeout=1)
        container_stop(handle=handle, driver=driver, reason=f"run {outcome}")
        revoke_proxy_tokens(owner=owner)
    run.refresh_from_db()
    if run.status == Run.Status.RUNNING and run.service_id == lease[0] and run.lease_version == lease[1]:
        # The executor went away without reporting: fail with what it printed.
        reason = f"The executor exited (code {state.exit_code}) without finishing the run."
        if logs.strip():
            reason += f"\n{logs.strip()[-1500:]}"
        services.run_fail(run=run, error=reason, lease=lease)
        return "executor-died"
    return outcome


def executor_mounts() -> list[Any]:
    """The executor image carries Python and the loop's packages, not the Takos source: the loop's
    code (the `agents` package; Django-free, no settings, no data) is mounted read-only at
    /opt/takos/src, where the image's PYTHONPATH looks. Nothing else of the checkout (.venv, var/,
    other apps) is visible to the container. The local driver maps the target back to BASE_DIR."""
    from hosts.drivers import Mount

    return [Mount(source=Path(settings.BASE_DIR) / "agents", target="/opt/takos/src/agents", read_only=True)]


@shared_task(name="agents.recover_runs", acks_late=True, ignore_result=True)
def recover_runs() -> dict[str, int]:
    """Cron: requeue (once) or fail runs whose lease expired; drop tool operations older than 24 h."""
    counts = services.runs_recover_expired()
    cutoff = timezone.now() - timedelta(hours=24)
    counts["tool_operations_deleted"] = ToolOperation.objects.filter(created_at__lt=cutoff).delete()[0]
    counts["requeued_stuck"] = services.runs_requeue_stuck_queued()
    if counts["requeued"] or counts["failed"]:
        logger.warning("run recovery: %s", counts)
    return counts


def dead_letter(*, queue: str, body: dict[str, Any], error: str, retries: int) -> None:
    """Leave a dead-letter row for an exhausted task (platform_app.DeadLetter)."""
    try:
        from platform_app.models import DeadLetter
    except ImportError:  # pragma: no cover - the model ships with platform_app
        logger.error("dead letter (%s): %s %s", queue, body, error)
        return
    DeadLetter.objects.create(queue=queue, message_body=body, error=error[:5000], retry_count=retries)



@shared_task(name="agents.probe", ignore_result=True)
def probe(*, marker: str) -> None:
    """A no-op round trip through the `run` queue: writes DATA_DIR/probes/<marker>.

    The benchmark's reference for run start latency (and a cheap queue health check)."""
    from pathlib import Path

    folder = Path(settings.DATA_DIR) / "probes"
    folder.mkdir(exist_ok=True)
    (folder / marker.replace("/", "_")[:64]).write_text("ok")
