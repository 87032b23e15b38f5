"""Celery tasks of the repos app (queue `index`): they take ids and are safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger("takos.repos")


@shared_task(name="repos.index_commits", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True,
             max_retries=5, soft_time_limit=600)
def index_commits(*, repo_id: str, tips: list[str], known: list[str], **extra: object) -> int:
    """Add the commits reachable from `tips` and not from `known` to the commit index.

    Idempotent: rows that exist are skipped (unique repo+sha). A deleted repository is a no-op.
    """
    from repos import services
    from repos.models import Repository

    if extra:
        logger.info("repos.index_commits ignoring unknown arguments %s", sorted(extra))
    repo = Repository.objects.filter(pk=repo_id).select_related("space").first()
    if repo is None or not repo.git_dir.exists():
        return 0
    return services.index_commits(repo, tips=tips, known=known)
