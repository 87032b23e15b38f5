"""Receivers for the platform hooks (connected in WorkflowsConfig.ready())."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def on_repo_pushed(sender: Any, *, repo: Any, pusher: Any = None, ref_updates: Any = (), **kwargs: Any) -> None:
    from workflows import tasks

    pusher_id = pusher.pk if pusher is not None and getattr(pusher, "is_authenticated", False) else None
    updates = [list(u) for u in ref_updates]
    transaction.on_commit(lambda: tasks.on_push.delay(repo.pk, pusher_id, updates))


def on_pull_request_changed(sender: Any, *, pr: Any, action: str, actor: Any = None, **kwargs: Any) -> None:
    """`synchronize` is derived from pushes here (on_push); repos sends opened/reopened/closed/edited."""
    from workflows import tasks

    if action == "synchronize":
        return
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    transaction.on_commit(lambda: tasks.on_pull_request.delay(pr.pk, action, actor_id))
