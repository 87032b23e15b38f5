"""Celery tasks of the `workflow` queue. They take ids, are safe to run twice (jobs are claimed
by compare-and-set on status + lease) and never raise into the worker for expected errors."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import transaction

logger = logging.getLogger("takos.workflows.tasks")


@shared_task(name="workflows.execute_job", acks_late=True, ignore_result=True)
def execute_job(job_id: str, **_: Any) -> str | None:
    from workflows.executor import execute_job as run

    return run(job_id)


@shared_task(name="workflows.on_push", acks_late=True, ignore_result=True, autoretry_for=(OSError,),
             max_retries=3, retry_backoff=True)
def on_push(repo_id: str, pusher_id: str | None, ref_updates: list[list[str]], **_: Any) -> int:
    from accounts.models import User
    from repos.models import Repository
    from workflows import services

    repo = Repository.objects.select_related("space").filter(pk=repo_id).first()
    if repo is None:
        return 0
    pusher = User.objects.filter(pk=pusher_id).first() if pusher_id else None
    updates = [tuple(u) for u in ref_updates]
    runs = services.on_push(repo=repo, pusher=pusher, ref_updates=updates, sync_registry=False)
    if any(ref == f"refs/heads/{repo.default_branch}" for ref, _, _ in updates):
        # The registry is not on the way to the first step: its own task, queued behind the runs' jobs.
        transaction.on_commit(lambda: sync_registry.delay(repo.pk))
    _run_first_job_here(runs)
    return len(runs)


@shared_task(name="workflows.sync_registry", acks_late=True, ignore_result=True)
def sync_registry(repo_id: str, **_: Any) -> int:
    from repos.models import Repository
    from workflows import services

    repo = Repository.objects.select_related("space").filter(pk=repo_id).first()
    return len(services.sync_all(repo=repo)) if repo is not None else 0


def _run_first_job_here(runs: list[Any]) -> None:
    """Start the first ready job in this worker instead of waiting for its own message: it saves
    one broker round trip between push and the first step. The job's message stays queued and
    becomes a no-op (jobs are claimed by compare-and-set), so nothing runs twice."""
    from workflows.executor import execute_job as run_job
    from workflows.models import WorkflowJob

    for run in runs:
        job_id = (WorkflowJob.objects.filter(run=run, status=WorkflowJob.Status.QUEUED, enqueued_at__isnull=False,
                                             lease_id="").order_by("created_at").values_list("id", flat=True).first())
        if job_id:
            run_job(job_id)
            return


@shared_task(name="workflows.on_pull_request", acks_late=True, ignore_result=True)
def on_pull_request(pr_id: str, action: str, actor_id: str | None = None, **_: Any) -> int:
    from accounts.models import User
    from repos.models import PullRequest
    from workflows import services

    pr = PullRequest.objects.select_related("repo", "repo__space", "author").filter(pk=pr_id).first()
    if pr is None:
        return 0
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    return len(services.on_pull_request(pr=pr, action=action, actor=actor))


@shared_task(name="workflows.recover", ignore_result=True)
def recover(**_: Any) -> dict[str, int]:
    from workflows import services

    with transaction.atomic():
        return services.recover_jobs()


@shared_task(name="workflows.schedule_tick", ignore_result=True)
def schedule_tick(**_: Any) -> int:
    from workflows import services

    return len(services.schedule_tick())


@shared_task(name="workflows.purge_artifacts", ignore_result=True)
def purge_artifacts(**_: Any) -> int:
    from workflows import services

    return services.purge_expired_artifacts()


@shared_task(name="workflows.bench_ping", ignore_result=True)
def bench_ping(path: str, **_: Any) -> None:
    """No-op reference task for scripts/bench_workflows.py: records when a worker picked it up."""
    import time
    from pathlib import Path

    Path(path).write_text(repr(time.time()))
